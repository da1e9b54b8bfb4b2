"""Located YAML for ValidatingAdmissionPolicy files: every value knows its file and line.

It reads documents with the bounded loader of `webhook.manifests` and checks shapes (mapping,
list, string, known keys), raising `VAPError` at the exact line. It gives no meaning to fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from webhook.manifests import BoundedLoader, Limits, ManifestError, read


class VAPError(Exception):
    """A user policy problem, located: `file:line: what is wrong`."""


@dataclass(frozen=True)
class Node:
    """A YAML node and where it is; `path` names it in messages (e.g. `spec.validations[2]`)."""

    node: yaml.Node
    source: str
    path: str
    key: yaml.Node | None = None  # a field is located at its key, not at its value

    @property
    def line(self) -> int:
        return int((self.key or self.node).start_mark.line) + 1

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def error(self, message: str) -> VAPError:
        return VAPError(
            f"{self.where}: {self.path}: {message}" if self.path else f"{self.where}: {message}"
        )

    def value(self) -> Any:
        return SafeConstructor().construct_object(self.node, deep=True)

    def mapping(
        self, known: tuple[str, ...] | None = None, unsupported: Mapping[str, str] | None = None
    ) -> dict[str, Node]:
        """The fields of a mapping; a field outside `known` (if given) is an error at its line."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error("must be a mapping")
        fields: dict[str, Node] = {}
        for key, value in self.node.value:
            name = str(key.value)
            child = Node(value, self.source, f"{self.path}.{name}" if self.path else name, key)
            if name in fields:
                raise child.error("appears twice")
            if unsupported and name in unsupported:
                raise child.error(f"is not supported by edgeguard: {unsupported[name]}")
            if known is not None and name not in known:
                raise child.error(f"unknown field; known fields: {', '.join(known)}")
            fields[name] = child
        return fields

    def sequence(self) -> list[Node]:
        if not isinstance(self.node, yaml.SequenceNode):
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
    """The top-level nodes of a (multi-document) YAML file, read bounded."""
    source = str(path)
    try:
        text = read(source, None, limits)
    except ManifestError as exc:
        raise VAPError(str(exc)) from exc
    found: list[Node] = []
    loader = None
    try:
        loader = BoundedLoader(text, limits)
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _empty(node):
                found.append(Node(node, source, ""))
    except yaml.YAMLError as exc:
        raise VAPError(f"{source}:{_line(exc)}: not valid YAML: {_problem(exc)}") from exc
    finally:
        if loader is not None:
            loader.dispose()
    return found


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
