"""Located YAML: every value knows its file and line, so a problem is reported where it is.

The one reader for configuration and user policy files. It checks shapes (mapping, list,
string, known keys) and raises `LocatedError`; each caller turns that into its own error
(ConfigError, VAPError). It gives no meaning to fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from webhook.yamlio.manifests import BoundedLoader, Limits, read


class LocatedError(Exception):
    """A YAML value that is not as expected: `file:line: what is wrong`."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line, self.message = source, line, message


@dataclass(frozen=True)
class Node:
    """A YAML node and where it is; `path` names it in messages (e.g. `spec.validations[2]`)."""

    node: yaml.Node
    source: str
    path: str = ""
    key: yaml.Node | None = None  # a field is located at its key, not at its value

    @property
    def line(self) -> int:
        """Where the value is reported: at its key when it is a field."""
        return int((self.key or self.node).start_mark.line) + 1

    @property
    def value_line(self) -> int:
        """Where the value itself starts (the line after its key for a block value)."""
        return int(self.node.start_mark.line) + 1

    @property
    def name(self) -> str:
        """The key of a field ("" for a document or a list item)."""
        return str(self.key.value) if self.key is not None else ""

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    @property
    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    @property
    def text(self) -> Any:
        """A scalar as written (before YAML gives it a type); None for a collection."""
        return self.node.value if self.is_scalar else None

    def error(self, message: str) -> LocatedError:
        """`path: message`, at the line of the field."""
        return LocatedError(
            self.source, self.line, f"{self.path}: {message}" if self.path else message
        )

    def fail(self, message: str, *, at_key: bool = False) -> LocatedError:
        """`message` as given, at the line of the value (or of its key)."""
        return LocatedError(self.source, self.line if at_key else self.value_line, message)

    def value(self) -> Any:
        return SafeConstructor().construct_object(self.node, deep=True)

    def entries(self) -> list[Node]:
        """The fields of a mapping in order, duplicates included (no check but the shape)."""
        if not self.is_mapping:
            raise self.error("must be a mapping")
        return [
            Node(
                value, self.source, f"{self.path}.{key.value}" if self.path else str(key.value), key
            )
            for key, value in self.node.value
        ]

    def mapping(
        self, known: tuple[str, ...] | None = None, unsupported: Mapping[str, str] | None = None
    ) -> dict[str, Node]:
        """The fields of a mapping; a field outside `known` (if given) is an error at its line."""
        fields: dict[str, Node] = {}
        for child in self.entries():
            name = child.name
            if name in fields:
                raise child.error("appears twice")
            if unsupported and name in unsupported:
                raise child.error(f"is not supported by edgeguard: {unsupported[name]}")
            if known is not None and name not in known:
                raise child.error(f"unknown field; known fields: {', '.join(known)}")
            fields[name] = child
        return fields

    def sequence(self) -> list[Node]:
        if not self.is_sequence:
            raise self.error("must be a list")
        return [Node(n, self.source, f"{self.path}[{i}]") for i, n in enumerate(self.node.value)]

    def string(self) -> str:
        value = self.value()
        if not isinstance(value, str) or not value:
            raise self.error("must be a non-empty string")
        return value

    def strings(self) -> tuple[str, ...]:
        return tuple(item.string() for item in self.sequence())


def required(fields: Mapping[str, Node], name: str, parent: Node) -> Node:
    found = fields.get(name)
    if found is None:
        raise parent.error(f"{name} is required")
    return found


LIMITS = Limits()


def documents(path: Path, limits: Limits = LIMITS) -> list[Node]:
    """The top-level nodes of a (multi-document) YAML file, read bounded; an unreadable file
    raises ManifestError, invalid YAML LocatedError."""
    source = str(path)
    text = read(source, None, limits)
    found: list[Node] = []
    loader = None
    try:
        loader = BoundedLoader(text, limits)
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _empty(node):
                found.append(Node(node, source))
    except yaml.YAMLError as exc:
        raise LocatedError(source, _line(exc), f"not valid YAML: {_problem(exc)}") from exc
    finally:
        if loader is not None:
            loader.dispose()
    return found


def compose(text: str, source: str) -> Node | None:
    """The one document of a small trusted file (the configuration); None when it is empty.
    Invalid YAML raises yaml.YAMLError for the caller to word."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    return None if root is None else Node(root, source)


def _line(exc: yaml.YAMLError) -> int:
    line = getattr(exc, "line", None)  # the bounded loader's own errors carry a line
    if isinstance(line, int):
        return line
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return int(mark.line) + 1 if mark is not None else 0


def _problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or getattr(exc, "message", None) or exc)


def _empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
