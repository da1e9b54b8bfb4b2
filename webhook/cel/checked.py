"""What a checked expression may return, read from its serialized form (cel.expr.CheckedExpr).

Used at load to refuse an expression whose result can hold an optional value inside a list or
map literal (`c ? x : {'k': o.?f}`): Kubernetes keeps such a value inside CEL, but edgeguard
must hand results back to Python, where an optional value has no form. Only the protobuf
wire format is read here (no protobuf runtime is needed for these few fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# Field numbers from cel/expr/checked.proto and cel/expr/syntax.proto.
_ANY_VALUE = 2
_CHECKED_TYPE_MAP, _CHECKED_EXPR = 3, 4
_EXPR_ID, _EXPR_CONST, _EXPR_CALL, _EXPR_LIST, _EXPR_STRUCT, _EXPR_COMPREHENSION = 2, 3, 6, 7, 8, 9
_CALL_FUNCTION, _CALL_ARGS = 2, 3
_LIST_ELEMENTS, _LIST_OPTIONAL = 1, 2
_STRUCT_NAME, _STRUCT_ENTRIES = 1, 2
_ENTRY_FIELD_KEY, _ENTRY_MAP_KEY, _ENTRY_VALUE, _ENTRY_OPTIONAL = 2, 3, 4, 5
_COMPREHENSION_RESULT = 7
_CONST_STRING = 6
_TYPE_ABSTRACT, _ABSTRACT_NAME = 14, 1
OPTIONAL_TYPE = "optional_type"

Fields = dict[int, list[int | bytes]]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Fields:
    """Each field number's values: ints for varints, bytes for length-delimited fields."""
    found: Fields = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = data[at : at + size], at + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        found.setdefault(number, []).append(value)
    return found


def _one(fields: Fields, number: int) -> bytes:
    values = fields.get(number, [b""])
    value = values[-1]
    return value if isinstance(value, bytes) else b""


def _packed(fields: Fields, number: int) -> set[int]:
    found: set[int] = set()
    for value in fields.get(number, []):
        if isinstance(value, int):
            found.add(value)
            continue
        at = 0
        while at < len(value):
            item, at = _varint(value, at)
            found.add(item)
    return found


@dataclass
class _Checked:
    optional_ids: set[int] = field(default_factory=set)


def optional_entries(serialized: bytes) -> list[str]:
    """The list elements and map entries on the result's path that hold an optional value
    without being optional entries, named as `{'key': ...}` or `[#index]`."""
    outer = _fields(serialized)
    checked = _fields(_one(outer, _ANY_VALUE))
    info = _Checked()
    for entry in checked.get(_CHECKED_TYPE_MAP, []):
        if isinstance(entry, bytes):
            pair = _fields(entry)
            key = pair.get(1, [0])[0]
            kind = _fields(_one(pair, 2))
            abstract = _fields(_one(kind, _TYPE_ABSTRACT)) if _TYPE_ABSTRACT in kind else {}
            if isinstance(key, int) and _one(abstract, _ABSTRACT_NAME) == OPTIONAL_TYPE.encode():
                info.optional_ids.add(key)
    return list(_on_result_path(_fields(_one(checked, _CHECKED_EXPR)), info))


def _expr_id(expr: Fields) -> int:
    value = expr.get(_EXPR_ID, [0])[0]
    return value if isinstance(value, int) else 0


def _on_result_path(expr: Fields, info: _Checked) -> Iterator[str]:
    if _EXPR_CALL in expr:
        call = _fields(_one(expr, _EXPR_CALL))
        if _one(call, _CALL_FUNCTION) == b"_?_:_":
            for branch in call.get(_CALL_ARGS, [])[1:]:
                if isinstance(branch, bytes):
                    yield from _on_result_path(_fields(branch), info)
    elif _EXPR_COMPREHENSION in expr:  # cel.bind and the macros: their result expression
        comprehension = _fields(_one(expr, _EXPR_COMPREHENSION))
        yield from _on_result_path(_fields(_one(comprehension, _COMPREHENSION_RESULT)), info)
    elif _EXPR_LIST in expr:
        listed = _fields(_one(expr, _EXPR_LIST))
        optional = _packed(listed, _LIST_OPTIONAL)
        for index, element in enumerate(listed.get(_LIST_ELEMENTS, [])):
            if not isinstance(element, bytes):
                continue
            item = _fields(element)
            if index not in optional and _expr_id(item) in info.optional_ids:
                yield f"[#{index}]"
            yield from _on_result_path(item, info)
    elif _EXPR_STRUCT in expr:
        struct = _fields(_one(expr, _EXPR_STRUCT))
        for raw in struct.get(_STRUCT_ENTRIES, []):
            if not isinstance(raw, bytes):
                continue
            entry = _fields(raw)
            value = _fields(_one(entry, _ENTRY_VALUE))
            optional_entry = entry.get(_ENTRY_OPTIONAL, [0])[0] == 1
            if not optional_entry and _expr_id(value) in info.optional_ids:
                yield f"{{{_key(entry)}: ...}}"
            yield from _on_result_path(value, info)


def _key(entry: Fields) -> str:
    if _ENTRY_FIELD_KEY in entry:
        return _one(entry, _ENTRY_FIELD_KEY).decode("utf-8", "replace")
    constant = _fields(_one(_fields(_one(entry, _ENTRY_MAP_KEY)), _EXPR_CONST))
    if _CONST_STRING in constant:
        return repr(_one(constant, _CONST_STRING).decode("utf-8", "replace"))
    return "key"


_EXPR_SELECT, _EXPR_LIST_KIND = 5, _EXPR_LIST
_SELECT_OPERAND = 1
_CALL_TARGET = 1


def literal_arguments(serialized: bytes, functions: frozenset[str]) -> list[tuple[str, str]]:
    """(function, pattern) for each call of one of `functions` whose first argument is a
    string literal, anywhere in the expression: Kubernetes compiles those patterns when it
    builds the program, so a bad one is refused with the policy."""
    checked = _fields(_one(_fields(serialized), _ANY_VALUE))
    found: list[tuple[str, str]] = []
    pending = [_one(checked, _CHECKED_EXPR)]
    while pending:
        expr = _fields(pending.pop())
        kinds = (_EXPR_SELECT, _EXPR_CALL, _EXPR_LIST_KIND, _EXPR_STRUCT, _EXPR_COMPREHENSION)
        for number in kinds:
            if number in expr:
                pending.extend(_children(number, _fields(_one(expr, number))))
        if _EXPR_CALL in expr:
            call = _fields(_one(expr, _EXPR_CALL))
            name = _one(call, _CALL_FUNCTION).decode("utf-8", "replace")
            args = [a for a in call.get(_CALL_ARGS, []) if isinstance(a, bytes)]
            if name in functions and args:
                constant = _fields(_one(_fields(args[0]), _EXPR_CONST))
                if _CONST_STRING in constant:
                    found.append((name, _one(constant, _CONST_STRING).decode("utf-8", "replace")))
    return found


def _children(kind: int, node: Fields) -> list[bytes]:
    """The sub-expressions of a select, call, list, struct or comprehension node."""
    numbers = {
        _EXPR_SELECT: (_SELECT_OPERAND,),
        _EXPR_CALL: (_CALL_TARGET, _CALL_ARGS),
        _EXPR_LIST_KIND: (_LIST_ELEMENTS,),
        _EXPR_COMPREHENSION: (2, 4, 5, 6, _COMPREHENSION_RESULT),
    }.get(kind, ())
    children = [v for n in numbers for v in node.get(n, []) if isinstance(v, bytes)]
    if kind == _EXPR_STRUCT:
        for raw in node.get(_STRUCT_ENTRIES, []):
            if isinstance(raw, bytes):
                entry = _fields(raw)
                children += [_one(entry, n) for n in (_ENTRY_MAP_KEY, _ENTRY_VALUE) if n in entry]
    return children
