"""The connection to the Kubernetes API: where it is, how to trust it and who we are.

kubernetes_asyncio reads the kubeconfig or service account; the GETs are plain aiohttp calls
returning raw JSON, one path for every kind. It caches nothing and knows no policy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, TCPConnector

log = logging.getLogger("edgeguard.kubeclient")

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# The only environment variables connect() reads; the CLI passes them in.
ENVIRONMENT = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
# A page of a list (limit=500) answers in well under a second; a watch has no total limit.
REQUEST_SECONDS = 60.0
WRITTEN = (200, 201, 202)  # the statuses of a write that took effect
# How often a kubeconfig's credentials are re-read (exec plugins without an expiry are re-run).
CREDENTIAL_REFRESH_SECONDS = 60.0
Headers = Callable[[], Awaitable[dict[str, str]]]


class ClusterConfigError(Exception):
    """A kubeconfig that was asked for cannot be used; the message says why."""


class ApiError(Exception):
    """The API server answered with an error status (its Status message attached)."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.reason = reason  # the Status reason: AlreadyExists, Conflict, NotFound, ...

    @classmethod
    def of(cls, status: int, message: str, reason: str = "") -> ApiError:
        kind = {404: NotFound, 409: Conflict, 410: Gone}.get(status, ApiError)
        return kind(status, message, reason)


class NotFound(ApiError):
    """404: the group, version or resource is not served (a CRD not installed)."""


class Conflict(ApiError):
    """409: the object exists already (reason AlreadyExists), or an update was conditioned on
    a resourceVersion that is no longer current (reason Conflict)."""


# What an API call can fail with: an error status, a connection lost or refused, a deadline.
FAILURES = (ApiError, ClientError, OSError, TimeoutError, ValueError)


class Gone(ApiError):
    """410: the resourceVersion or continue token is older than the server keeps."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    ssl: ssl.SSLContext | bool
    server_hostname: str | None = None
    proxy: str | None = None


class KubeClient:
    """GETs against one API server with fresh credentials on each request."""

    def __init__(self, endpoint: Endpoint, headers: Headers, read_timeout: float = 900.0) -> None:
        self.endpoint = endpoint
        self._headers = headers
        self._session = ClientSession(
            connector=TCPConnector(ssl=endpoint.ssl),
            timeout=ClientTimeout(total=None, sock_connect=10.0, sock_read=read_timeout),
        )

    async def close(self) -> None:
        await self._session.close()

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        timeout: float = REQUEST_SECONDS,
    ) -> Any:
        """The decoded JSON body of a GET; ApiError on any status but 200."""
        async with asyncio.timeout(timeout), await self.open(path, params) as response:
            return json.loads(await response.read())

    async def write_json(
        self, method: str, path: str, body: Any = None, timeout: float = REQUEST_SECONDS
    ) -> Any:
        """POST, PUT or DELETE with a JSON body; the decoded answer, or ApiError."""
        data = json.dumps(body).encode() if body is not None else None
        async with asyncio.timeout(timeout):
            response = await self._send(method, path, WRITTEN, data=data, json_body=True)
            async with response:
                raw = await response.read()
            return json.loads(raw) if raw else None

    async def open(self, path: str, params: Mapping[str, str] | None = None) -> ClientResponse:
        """A GET whose body is still to be read (a watch stream); the caller closes it."""
        return await self._send("GET", path, (200,), params=params)

    async def _send(
        self,
        method: str,
        path: str,
        ok: tuple[int, ...],
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        json_body: bool = False,
    ) -> ClientResponse:
        """The response to one request, its body unread; ApiError on a status not in `ok`."""
        headers = await self._headers()
        response = await self._session.request(
            method,
            self.endpoint.host + path,
            params=params,
            data=data,
            headers={**headers, "Content-Type": "application/json"} if json_body else headers,
            proxy=self.endpoint.proxy,
            server_hostname=self.endpoint.server_hostname,
        )
        if response.status not in ok:
            async with response:
                message, reason = _status_fields(await response.read())
                raise ApiError.of(response.status, message, reason)
        return response


class JsonLines:
    """The lines of a watch body (one JSON event each), whatever the chunk boundaries."""

    def __init__(self, response: ClientResponse) -> None:
        self._content = response.content
        self._buffer = bytearray()

    async def next(self) -> bytes | None:
        """The next non-empty line, or None at the end of the body."""
        while True:
            while (end := self._buffer.find(b"\n")) < 0:
                chunk = await self._content.readany()
                if not chunk:
                    rest = bytes(self._buffer).strip()
                    self._buffer.clear()
                    return rest or None
                self._buffer.extend(chunk)
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if line.strip():
                return line


def _status_fields(body: bytes) -> tuple[str, str]:
    """A Status body's message and reason."""
    try:
        status = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace"), ""
    if not isinstance(status, dict):
        return "", ""
    return str(status.get("message", "")), str(status.get("reason", ""))


async def connect(
    kubeconfig: Path | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    service_account: Path = SERVICE_ACCOUNT,
    refresh_seconds: float = CREDENTIAL_REFRESH_SECONDS,
) -> KubeClient | None:
    """A client for the cluster we are in or the kubeconfig names; None when there is neither.

    The order is controller-runtime's (pkg/client/config): --kubeconfig, then $KUBECONFIG,
    then the pod's service account, then ~/.kube/config.
    """
    env = environ or {}
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise ClusterConfigError(f"kubeconfig {kubeconfig} does not exist")
        return await _from_kubeconfig(str(kubeconfig), refresh_seconds)
    listed = [p for p in env.get("KUBECONFIG", "").split(":") if p]
    if any(Path(p).expanduser().is_file() for p in listed):
        return await _from_kubeconfig(":".join(listed), refresh_seconds)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster(env, service_account)
    default = (home or Path.home()) / ".kube" / "config"
    return await _from_kubeconfig(str(default), refresh_seconds) if default.is_file() else None


async def _from_kubeconfig(paths: str, refresh_seconds: float) -> KubeClient:
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import load_kube_config

    configuration = Configuration()
    try:
        # persist_config=False: never write refreshed tokens back into the user's file.
        loader = await load_kube_config(
            config_file=paths, client_configuration=configuration, persist_config=False
        )
    except Exception as exc:  # the loader raises many types for one bad file
        raise ClusterConfigError(f"kubeconfig {paths} cannot be used: {exc}") from exc
    refreshed = time.monotonic()

    async def headers() -> dict[str, str]:
        nonlocal refreshed
        if time.monotonic() - refreshed >= refresh_seconds:
            # Re-runs an expired exec plugin or re-reads a token file; cached otherwise.
            await loader.load_and_set(configuration)
            refreshed = time.monotonic()
        return _authorization(configuration.api_key.get("BearerToken"))

    log.info("connecting to %s (kubeconfig %s)", configuration.host, paths)
    return KubeClient(_endpoint(configuration), headers)


def _in_cluster(env: Mapping[str, str], service_account: Path) -> KubeClient:
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import ConfigException
    from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader

    configuration = Configuration()
    loader = InClusterConfigLoader(
        token_filename=str(service_account / "token"),
        cert_filename=str(service_account / "ca.crt"),
        environ=dict(env),
    )
    try:
        loader.load_and_set(configuration)
    except ConfigException as exc:
        raise ClusterConfigError(f"in-cluster configuration cannot be used: {exc}") from exc

    async def headers() -> dict[str, str]:
        # The loader's hook re-reads the projected token (rotated by the kubelet) each minute.
        token = await configuration.get_api_key_with_prefix("BearerToken")
        return _authorization(token)

    log.info("connecting to %s (in-cluster service account)", configuration.host)
    return KubeClient(_endpoint(configuration), headers)


def _authorization(token: object) -> dict[str, str]:
    return {"Authorization": token} if isinstance(token, str) and token else {}


def _endpoint(configuration: Any) -> Endpoint:
    host = str(configuration.host).rstrip("/")
    context: ssl.SSLContext | bool = True
    if host.startswith("https://"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return Endpoint(host, context, configuration.tls_server_name, configuration.proxy)
