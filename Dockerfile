# edgeguard's image: the package and its runtime dependencies only, run as a non-root user
# with a read-only root filesystem (manifests/base/deployment.yaml).
#   docker build -t edgeguard:0.1.0 .

# Build wheels for edgeguard and its runtime dependencies; nothing of this stage ships.
FROM python:3.11-slim AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook ./webhook
COPY policies ./policies
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels .

FROM python:3.11-slim
# Bytecode is compiled at install time: the root filesystem is read-only at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 edgeguard \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin edgeguard
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels edgeguard
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["edgeguard", "serve"]
