"""webhook.cel: compile errors, evaluation errors, plain results, one activation per request."""

from __future__ import annotations

import pytest

from webhook.cel.runtime import OPTIONAL_RESULT, CelError, CelEvalError, Environment

ENV = Environment(["object", "oldObject"])
OBJECT = {"spec": {"route": {"enabled": True, "hostname": "a.example.com"}, "n": [3, 1, 2]}}
RULE = (
    "!has(object.spec.route) || !object.spec.route.enabled"
    " || size(object.spec.route.hostname) > 0"
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (RULE, True),
        ("object.spec.n", [3, 1, 2]),
        ("object.spec.route", {"enabled": True, "hostname": "a.example.com"}),
        ("object.?spec.?missing.orValue('none')", "none"),
        ("'a,b'.split(',')", ["a", "b"]),
        ("cel.bind(x, 2, x * x)", 4),
        ("math.greatest(1, 5)", 5),
        ("base64.encode(b'hi')", "aGk="),
        ("1.5", 1.5),
        ("null", None),
        ("oldObject == null", True),
    ],
)
def test_evaluate_returns_plain_values(expr: str, expected: object) -> None:
    activation = ENV.activation({"object": OBJECT, "oldObject": None})
    assert ENV.compile(expr).evaluate(activation) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("object.spec.missing", 'NOT_FOUND: Key not found in map : "missing"'),
        ("1 / 0", "INVALID_ARGUMENT: divide by zero"),
        ("9223372036854775807 + 1", "OUT_OF_RANGE: integer overflow"),
        ("[].max()", "OUT_OF_RANGE: max called on empty list"),
    ],
)
def test_evaluation_errors_raise(expr: str, message: str) -> None:
    activation = ENV.activation({"object": OBJECT, "oldObject": None})
    with pytest.raises(CelEvalError) as caught:
        ENV.compile(expr).evaluate(activation)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("object.", "Syntax error"),
        ("undeclared == 1", "undeclared reference to 'undeclared'"),
        ("object.?spec", "result must not be an optional value"),
        ("'s'.family()", "found no matching overload for 'family'"),
    ],
)
def test_compile_errors_name_the_expression(expr: str, fragment: str) -> None:
    with pytest.raises(CelError) as caught:
        ENV.compile(expr)
    assert f"cannot compile {expr!r}" in str(caught.value)
    assert fragment in str(caught.value)


def test_one_activation_serves_many_programs() -> None:
    activation = ENV.activation({"object": OBJECT, "oldObject": None})
    programs = [ENV.compile(RULE), ENV.compile("object.spec.n.isSorted()")]
    assert [program.evaluate(activation) for program in programs] == [True, False]


def test_activation_refuses_undeclared_variables() -> None:
    with pytest.raises(ValueError, match=r"undeclared CEL variables: \['request'\]"):
        ENV.activation({"request": {}})


def test_program_keeps_its_source() -> None:
    assert ENV.compile("1 == 1").source == "1 == 1"


# An optional value inside a result: Kubernetes keeps it in CEL; cel-expr-python's converter
# crashes the process on it (issue 15, case 4), so it is refused at compile or an error.
CRASHER = "has(object.spec.route) ? object.spec.route : {'service': object.spec.?service}"


@pytest.mark.parametrize(
    ("expr", "where"),
    [
        (CRASHER, "{'service': ...}"),
        ("[1, object.?spec]", "[#1]"),
        ("cel.bind(x, object.n, x == 1 ? x : {'a': {'b': object.?spec}})", "{'b': ...}"),
    ],
)
def test_a_literal_holding_an_optional_value_is_refused_at_compile(expr: str, where: str) -> None:
    with pytest.raises(CelError) as caught:
        ENV.compile(expr)
    assert str(caught.value) == (
        f"cannot compile {expr!r}: the result may hold an optional value (at {where}), which"
        " edgeguard cannot hand back from CEL; make it an optional entry ({?'key': x.?field},"
        " [?x.?field]) or use .orValue(default)"
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("{?'service': object.spec.?service}", {}),
        ("{?'route': object.spec.?route}.route.enabled", True),
        ("{'n': object.spec.?n}.n.hasValue()", True),
        ("[?object.spec.?missing, 1]", [1]),
    ],
)
def test_optional_values_used_inside_an_expression_work(expr: str, expected: object) -> None:
    activation = ENV.activation({"object": OBJECT, "oldObject": None})
    assert ENV.compile(expr).evaluate(activation) == expected


def test_an_optional_value_only_known_at_run_time_is_an_error_not_a_crash() -> None:
    activation = ENV.activation({"object": {"spec": {}}, "oldObject": None})
    program = ENV.compile("dyn({'service': object.spec.?service})")
    with pytest.raises(CelEvalError) as caught:
        program.evaluate(activation)
    assert str(caught.value) == OPTIONAL_RESULT
