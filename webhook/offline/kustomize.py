"""kustomize directories, as `edgeguard review` meets them in a repository.

A kustomization file is not an object, and the files it names as patches, generator inputs or
transformer configuration are not objects as the cluster gets them: review leaves them out and
says why. `build` renders a directory with `kustomize build` (or `kubectl kustomize`) for
`review --kustomize DIR`. Reads files and runs that one tool; decides no verdict.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.yamlio.manifests import ManifestError, read_value

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Fields of a kustomization that name files which are not objects of the build as they are.
PATCH_FIELDS = ("patchesStrategicMerge", "patches", "patchesJson6902")
CONFIG_FIELDS = ("configurations", "transformers", "generators", "validators", "replacements")
GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator", "helmChartInflationGenerator")
# A build of a large overlay takes seconds; remote bases may need a download.
BUILD_SECONDS = 300.0


class KustomizeError(ManifestError):
    """`kustomize build` could not run or failed; the message names the directory."""


@dataclass(frozen=True)
class Role:
    """What a kustomization makes of a file it names."""

    kustomization: Path
    field: str

    @property
    def reason(self) -> str:
        shown = display(self.kustomization)
        return f"named in {shown} under {self.field}: not an object as applied"


def display(path: Path) -> Path:
    """A path as the user would write it: relative to the working directory when inside."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def find(directory: Path) -> Path | None:
    """The kustomization file of a directory, if it has one."""
    for name in NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def roles(kustomization: Path) -> dict[Path, Role]:
    """The files a kustomization names that review leaves out, by resolved path. A file that
    cannot be read as a kustomization names nothing (it is itself left out)."""
    try:
        spec = read_value(str(kustomization))
    except ManifestError:
        return {}
    if not isinstance(spec, dict):
        return {}
    base = kustomization.parent
    found: dict[Path, Role] = {}
    for field in (*PATCH_FIELDS, *CONFIG_FIELDS, *GENERATOR_FIELDS, "openapi"):
        for name in _paths(spec.get(field), field):
            found.setdefault((base / name).resolve(), Role(kustomization, field))
    return found


def _paths(value: Any, field: str) -> Iterator[str]:
    """The file names in one field, in each of the shapes kustomize accepts."""
    if isinstance(value, str) and "\n" not in value:
        yield value
        return
    if isinstance(value, Mapping):
        yield from _paths(value.get("path"), field)
        return
    if not isinstance(value, list):
        return
    for item in value:
        if isinstance(item, str):
            # An inline patch is YAML text; a file name is one line.
            if "\n" not in item and not item.lstrip().startswith(("{", "[")):
                yield item.rpartition("=")[2] if field in GENERATOR_FIELDS else item
        elif isinstance(item, Mapping):
            yield from _paths(item.get("path"), field)
            for key in ("files", "envs"):
                yield from _paths(item.get(key), field)
            yield from _paths(item.get("env"), field)


def tool() -> list[str] | None:
    """The command that renders a kustomization here: kustomize, else kubectl's own."""
    kustomize = shutil.which("kustomize")
    if kustomize is not None:
        return [kustomize, "build"]
    kubectl = shutil.which("kubectl")
    return [kubectl, "kustomize"] if kubectl is not None else None


def hint(directory: Path) -> str:
    """How to review what a kustomization builds, with the tools at hand."""
    if tool() is not None:
        return f"review what it builds with --kustomize {directory}"
    return f"review what it builds with: kustomize build {directory} | edgeguard review -"


def build(directory: Path, limit: int) -> bytes:
    """The rendered output of `directory` (at most `limit` bytes), or a KustomizeError."""
    command = tool()
    name = str(directory)
    if command is None:
        raise KustomizeError(
            name, 0, "--kustomize needs kustomize or kubectl on PATH; or pipe the output in:"
            f" kustomize build {directory} | edgeguard review -"
        )
    if find(directory) is None:
        raise KustomizeError(name, 0, f"no {NAMES[0]} in this folder (--kustomize)")
    argv = [*command, name]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=BUILD_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KustomizeError(name, 0, f"{_shown(argv)} did not finish: {exc}") from exc
    if done.returncode != 0:
        reason = _last_lines(done.stderr.decode("utf-8", "replace")) or f"exit {done.returncode}"
        raise KustomizeError(name, 0, f"{_shown(argv)} failed: {reason}")
    if len(done.stdout) > limit:
        raise KustomizeError(name, 0, f"kustomize output larger than {limit} bytes")
    return bytes(done.stdout)


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-count:])


def covering(files: Iterable[Path]) -> list[Path]:
    """The kustomization files that may name any of `files`: each file's own folder and the
    folders above it, up to the working directory when the file is inside it."""
    cwd = Path.cwd().resolve()
    found: dict[Path, None] = {}
    for file in files:
        folder = file.resolve().parent
        while True:
            kustomization = find(folder)
            if kustomization is not None:
                found.setdefault(kustomization, None)
            if folder == cwd or cwd not in folder.parents:
                break
            folder = folder.parent
    return list(found)


def _shown(argv: list[str]) -> str:
    return " ".join([Path(argv[0]).name, *argv[1:]])
