"""Kubernetes manifests from files, directories and stdin: safe, bounded, each with file:line.

Plain text (no anchors, shallow nesting, short lines) takes libyaml's fast loader when PyYAML
has it; anything else, and every error message, comes from PyYAML's own pure-Python parser
under a bounded composer that refuses deep nesting and alias bombs before anything is built,
so the limits and their messages are edgeguard's, whichever build of PyYAML is installed.
Files are read with a byte cap, binary is refused. It only reads and locates documents.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from webhook.core.json import JSONObject

STDIN = "-"
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Limits:
    """Caps on one input; each one's reason is beside it."""

    # `kustomize build` of a large cluster is a few MiB; 32 MiB leaves room and stays cheap.
    file_bytes: int = 32 * 1024 * 1024
    # The API server refuses request bodies above 3 MiB, so no real object is larger.
    document_bytes: int = 3 * 1024 * 1024
    # Nodes after expanding aliases: far above any real object, far below a billion laughs.
    expanded_nodes: int = 500_000
    # libyaml's C composer recurses per level and crashes the process on deep nesting, and
    # newer libyaml refuses deep flow nesting in its own words: edgeguard's limit comes first.
    depth: int = 200


class ManifestError(ValueError):
    """An input that cannot be read as manifests, located as `file:line: why`."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class Document:
    """One Kubernetes object and where it was read (line of its first key, 1-based).

    `origin` is the file behind an object read from a tool's output (the kustomization of
    `review --kustomize`), for reports that must name a file; None when `path` is one."""

    obj: JSONObject
    path: str
    line: int
    origin: str | None = None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Skipped:
    """An input that is not a Kubernetes object (values.yaml, a kustomization, a JSON patch),
    where it is and why it was left out."""

    path: str
    line: int
    reason: str

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class _Bounded(yaml.YAMLError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeys(SafeConstructor):
    """Refuses a mapping that repeats a key, as kubectl does (YAML would keep the last one
    silently: the OpenBao operator's own basics sample repeats `version:`). Merge keys (`<<`)
    may still be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                    continue
                line, same = int(key.start_mark.line) + 1, (key.tag, key.value)
                if same in seen:
                    first = seen[same]
                    raise _Bounded(line, f"duplicate key {key.value!r} (first at line {first})")
                seen[same] = line
        return super().construct_mapping(node, deep)


class BoundedLoader(Reader, Scanner, Parser, Composer, UniqueKeys, Resolver):
    """PyYAML's pure-Python parser (iterative, no nesting limit of its own) and composer,
    counting depth and alias expansion, so edgeguard's limits decide and word the refusal."""

    def __init__(self, stream: str, limits: Limits) -> None:
        try:
            Reader.__init__(self, stream)
        except ReaderError as exc:  # a control character, which YAML does not allow
            line = stream.count("\n", 0, exc.position) + 1
            raise _Bounded(line, f"not valid YAML: {exc.reason} (#x{exc.character:04x})") from exc
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        UniqueKeys.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        self._reset()

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # The scanner reads up to 1024 characters ahead for a possible simple key, with a cost
        # per token that grows with the flow level; refusing here bounds that look-ahead.
        if self.flow_level >= self.limits.depth:
            raise _Bounded(self.line + 1, f"nested deeper than {self.limits.depth} levels")
        Scanner.fetch_flow_collection_start(self, token_class)

    def _reset(self) -> None:
        self._depth, self._nodes = 0, 0
        self._sizes: dict[Any, int] = {}

    def get_node(self) -> yaml.Node | None:
        self._reset()
        return Composer.get_node(self)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            size = self._sizes.get(event.anchor)
            if size is None and event.anchor in self.anchors:
                raise _Bounded(_line(event), f"alias *{event.anchor} refers to itself")
            self._count(size or 0, event)
            return Composer.compose_node(self, parent, index)
        self._depth += 1
        if self._depth > self.limits.depth:
            raise _Bounded(_line(event), f"nested deeper than {self.limits.depth} levels")
        start = self._nodes
        self._count(1, event)
        node = Composer.compose_node(self, parent, index)
        if event is not None and event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - start
        self._depth -= 1
        return node

    def _count(self, nodes: int, event: Any) -> None:
        self._nodes += nodes
        if self._nodes > self.limits.expanded_nodes:
            raise _Bounded(
                _line(event),
                f"more than {self.limits.expanded_nodes} nodes once aliases are expanded"
                " (an alias bomb?)",
            )


def _line(mark_holder: Any) -> int:
    mark = getattr(mark_holder, "start_mark", None) or getattr(mark_holder, "problem_mark", None)
    return int(mark.line) + 1 if mark is not None else 0


# libyaml's loader, when this PyYAML was built with it (a public name; absent otherwise),
# with the same refusal of repeated keys.
FAST_LOADER: Any = (
    type("FastLoader", (UniqueKeys, yaml.CSafeLoader), {}) if hasattr(yaml, "CSafeLoader") else None
)


def load(
    paths: Iterable[str], stdin: IO[bytes] | None = None, limits: Limits = Limits()
) -> list[Document]:
    """Every object in the given files, directories (recursive) and `-` (stdin), in order."""
    documents: list[Document] = []
    for given in paths:
        for path in expand(given):
            documents.extend(parse(read(path, stdin, limits), shown_name(path), limits))
    return documents


def expand(given: str, skip: Callable[[PurePath], bool] = lambda _: False) -> Iterator[str]:
    """The files one path stands for: itself, or a folder's *.yaml, *.yml and *.json files
    (hidden folders left out), sorted; `skip` leaves out more, by path (relative to the
    folder, or as given)."""
    if given == STDIN:
        yield STDIN
        return
    path = Path(given)
    if path.is_dir():
        found = (
            p
            for p in path.rglob("*")
            if p.suffix in SUFFIXES
            and p.is_file()
            and not _hidden(p.relative_to(path))
            and not skip(p.relative_to(path))
        )
        yield from (str(p) for p in sorted(found))
    elif path.exists():
        if not skip(PurePath(given)):
            yield given
    else:
        raise ManifestError(given, 0, "no such file or directory")


def _hidden(relative: PurePath) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def shown_name(path: str) -> str:
    """How reports name an input: `<stdin>` for `-`."""
    return "<stdin>" if path == STDIN else path


def read(path: str, stdin: IO[bytes] | None, limits: Limits) -> str:
    """The text of one input, refusing what is too large, binary or not UTF-8."""
    name = shown_name(path)
    try:
        if path == STDIN:
            data = (stdin or os.fdopen(0, "rb", closefd=False)).read(limits.file_bytes + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limits.file_bytes + 1)
    except OSError as exc:
        raise ManifestError(name, 0, f"cannot read: {exc.strerror}") from exc
    if len(data) > limits.file_bytes:
        raise ManifestError(name, 0, f"larger than {limits.file_bytes} bytes")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ManifestError(name, line, "binary content (a NUL byte), not YAML or JSON")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(name, line, f"not UTF-8 text (byte {exc.start})") from exc


# A line this long could nest "- - - ..." sequences deep enough to matter to the C composer.
LONG_LINE = re.compile(r"[^\n]{4097}")
BRACKETS = re.compile(r"[\[\]{}]")
# The block prefix of a line: its indentation and any compact "- " sequence entries.
BLOCK_PREFIX = re.compile(r"^[ \t-]*", re.MULTILINE)


def plain(text: str, limits: Limits) -> bool:
    """Whether libyaml's own (fast) loader is safe here: no anchors, so no alias bomb, no very
    long line, and nesting that provably stays under the limit. Each block level below the
    first two needs a column of indentation or "- " prefix, so block depth is at most the
    widest prefix plus two: kept within half the limit, with flow depth within the other half.
    Both counts are conservative: a file they doubt takes the bounded path, which counts
    exactly."""
    if "&" in text or LONG_LINE.search(text):
        return False
    half = limits.depth // 2
    if max((len(m.group()) for m in BLOCK_PREFIX.finditer(text)), default=0) >= half - 2:
        return False
    depth = 0
    for match in BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > half:
            return False
    return True


def parse(text: str, name: str, limits: Limits = Limits()) -> list[Document]:
    """The objects in one YAML or JSON stream; `kind: List` is unpacked into its items. A
    document that is not a Kubernetes object is a ManifestError."""
    documents, others = parse_all(text, name, limits)
    if others:
        raise ManifestError(name, others[0].line, others[0].reason)
    return documents


def parse_all(
    text: str, name: str, limits: Limits = Limits()
) -> tuple[list[Document], list[Skipped]]:
    """The objects in one YAML or JSON stream, and the documents that are not objects."""
    if FAST_LOADER is not None and plain(text, limits):
        try:
            return _parse(lambda: FAST_LOADER(text), name, limits)
        except ManifestError:
            pass  # the bounded loader below says where and why, in the same words every time
    return _parse(lambda: BoundedLoader(text, limits), name, limits)


def _parse(
    make: Callable[[], Any], name: str, limits: Limits
) -> tuple[list[Document], list[Skipped]]:
    documents: list[Document] = []
    others: list[Skipped] = []
    with _located(make, name) as loader:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_size(node, name, limits)
            value = loader.construct_document(node)
            if value is None:
                continue
            for found in _objects(value, node, name):
                if isinstance(found, Document):
                    documents.append(found)
                else:
                    others.append(found)
    return documents, others


def read_value(path: str, limits: Limits = Limits()) -> Any:
    """One YAML document of any shape (a test case, a suite file), read with the same caps."""
    name = shown_name(path)
    text = read(path, None, limits)
    with _located(lambda: BoundedLoader(text, limits), name) as loader:
        return loader.get_single_data()


@contextlib.contextmanager
def _located(make: Callable[[], Any], name: str) -> Iterator[Any]:
    """A loader from `make` whose errors (its construction's too) become ManifestErrors with
    file and line; disposed of afterwards."""
    loader = None
    try:
        loader = make()
        yield loader
    except _Bounded as exc:
        raise ManifestError(name, exc.line, exc.message) from exc
    except yaml.YAMLError as exc:
        raise ManifestError(name, _line(exc), f"not valid YAML: {_problem(exc)}") from exc
    except RecursionError as exc:
        raise ManifestError(name, 0, "nested too deeply") from exc
    finally:
        if loader is not None:
            loader.dispose()


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
    return str(exc)


def _check_size(node: yaml.Node, name: str, limits: Limits) -> None:
    size = node.end_mark.index - node.start_mark.index
    if size > limits.document_bytes:
        line = node.start_mark.line + 1
        raise ManifestError(name, line, f"document larger than {limits.document_bytes} bytes")


def _objects(value: object, node: yaml.Node, name: str) -> Iterator[Document | Skipped]:
    line = node.start_mark.line + 1
    if not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else type(value).__name__
        yield Skipped(name, line, f"expected a Kubernetes object (a mapping), got {got}")
        return
    if value.get("kind") == "List" and isinstance(value.get("items"), list):
        items = _items_nodes(node)
        for item, item_node in zip(value["items"], items, strict=True):
            yield from _objects(item, item_node, name)
        return
    if not isinstance(value.get("apiVersion"), str) or not isinstance(value.get("kind"), str):
        yield Skipped(name, line, "not a Kubernetes object: apiVersion and kind are required")
        return
    yield Document(value, name, line)


def _items_nodes(node: yaml.Node) -> list[yaml.Node]:
    assert isinstance(node, yaml.MappingNode)
    for key, value in node.value:
        if key.value == "items" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []
