"""What `edgeguard review` reads: files, folders, stdin and kustomize builds, as objects plus
notes on what it left out and why.

A repository holds more YAML than manifests (values.yaml, Chart.yaml, workflows, kustomize
patches, Helm templates): such a file is skipped with a note, never a reason to stop the run.
A file that mixes objects with other documents, invalid YAML, or a path that matches no file
is an error (ManifestError, exit 2), as for kubectl. It reads; it decides no verdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePath
from typing import IO

from webhook.offline import kustomize
from webhook.yamlio.manifests import (
    STDIN,
    Document,
    Limits,
    ManifestError,
    Skipped,
    expand,
    parse_all,
    read,
    shown_name,
)

CHART = "Chart.yaml"
HELM = "helm template CHART | edgeguard review -"
EMPTY = "pass --allow-empty if that is expected"


@dataclass
class Inputs:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: Inputs) -> None:
        self.documents.extend(other.documents)
        self.skipped.extend(other.skipped)


LIMITS = Limits()


@dataclass(frozen=True)
class Options:
    exclude: tuple[str, ...] = ()
    allow_empty: bool = False
    limits: Limits = LIMITS


DEFAULT = Options()


def gather(paths: Sequence[str], stdin: IO[bytes] | None, options: Options = DEFAULT) -> Inputs:
    """Every object in `paths` (files, folders searched recursively, `-` for stdin), in order,
    and a note for each file left out."""
    found = [(given, list(_files(given, options))) for given in paths]
    files = [Path(f) for _, listed in found for f in listed if f != STDIN]
    left_out: dict[Path, kustomize.Role] = {}
    for kustomization in kustomize.covering(files):
        for path, role in kustomize.roles(kustomization).items():
            left_out.setdefault(path, role)
    inputs = Inputs()
    for given, listed in found:
        if not listed and not options.allow_empty:
            raise ManifestError(given, 0, f"no *.yaml, *.yml or *.json file here; {EMPTY}")
        for name in listed:
            inputs.extend(_read(name, stdin, options, left_out))
    return inputs


def rendered(directory: Path, options: Options = DEFAULT) -> Inputs:
    """The objects `kustomize build DIR` renders, located in its output and named after it."""
    text = _decoded(kustomize.build(directory, options.limits.file_bytes), str(directory))
    name = f"kustomize build {directory}"
    documents, others = parse_all(text, name, options.limits)
    if others:
        raise ManifestError(name, others[0].line, others[0].reason)
    origin = str(kustomize.find(directory) or directory)
    inputs = Inputs([Document(d.obj, d.path, d.line, origin) for d in documents])
    if not inputs.documents and not options.allow_empty:
        raise ManifestError(str(directory), 0, f"kustomize built no objects; {EMPTY}")
    return inputs


def _decoded(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(name, 0, f"kustomize output is not UTF-8 (byte {exc.start})") from exc


def _files(given: str, options: Options) -> Iterator[str]:
    """The files one path stands for (`manifests.expand`), --exclude matches left out."""
    return expand(given, lambda relative: _excluded(relative, options.exclude))


def _excluded(relative: PurePath, globs: Sequence[str]) -> bool:
    """Whether --exclude GLOB matches the file's path, its name or a folder on its path
    (`*` also matches across `/`, so `charts/*` leaves out all of charts/)."""
    if not globs:
        return False
    candidates = [relative.as_posix(), relative.name]
    candidates += [p.as_posix() for p in relative.parents if p.as_posix() != "."]
    candidates += [p.name for p in relative.parents if p.name]
    return any(fnmatch(c, glob) for c in candidates for glob in globs)


def _read(
    name: str, stdin: IO[bytes] | None, options: Options, left_out: dict[Path, kustomize.Role]
) -> Inputs:
    if name != STDIN:
        note = _not_a_manifest(Path(name), left_out)
        if note is not None:
            return Inputs(skipped=[Skipped(name, 0, note)])
    text = read(name, stdin, options.limits)
    shown = shown_name(name)
    try:
        documents, others = parse_all(text, shown, options.limits)
    except ManifestError as exc:
        if "{{" not in text or name == STDIN:
            raise
        reason = f"not valid YAML, with {{{{ }}}}: an unrendered Helm template? Review it as {HELM}"
        return Inputs(skipped=[Skipped(name, exc.line, reason)])
    if others and (documents or name == STDIN):
        # kubectl refuses a file or stream with a document that is not an object.
        raise ManifestError(shown, others[0].line, others[0].reason)
    if name == STDIN and not documents and not options.allow_empty:
        raise ManifestError(
            shown, 0, f"no Kubernetes objects (did the command before the pipe fail?); {EMPTY}"
        )
    if not others:
        return Inputs(documents)
    chart = _chart_of(Path(name))
    reason = others[0].reason
    if chart is not None:
        reason = f"part of the Helm chart in {chart}, not an object; review the chart as {HELM}"
    return Inputs(skipped=[Skipped(name, others[0].line, reason)])


def _not_a_manifest(path: Path, left_out: dict[Path, kustomize.Role]) -> str | None:
    """Why a file is left out before it is read, or None to read it."""
    if path.name in kustomize.NAMES:
        return f"a kustomization, not an object: {kustomize.hint(path.parent)}"
    role = left_out.get(path.resolve())
    if role is not None:
        return role.reason
    chart = _chart_of(path)
    if chart is not None and path.resolve().relative_to(chart.resolve()).parts[0] == "templates":
        return f"a template of the Helm chart in {chart}; review the chart as {HELM}"
    return None


def _chart_of(path: Path) -> Path | None:
    """The Helm chart folder a file is in (the nearest folder above with a Chart.yaml)."""
    for folder in path.resolve().parents:
        if (folder / CHART).is_file():
            return kustomize.display(folder)
    return None
