"""The one door to the CEL runtime (cel-expr-python): compile once, evaluate many.

Nothing else imports `cel_expr_python`. Compile errors raise `CelError`; runtime errors, which
the runtime hands back as values of type ERROR, raise `CelEvalError` so callers fail closed.
Every Kubernetes library function is metered (`webhook.cel.cost`). Results are converted to
Python value by value: an optional value nested in a result has no Python form, and handing
one to cel-expr-python's own converter kills the process (SIGSEGV), so it is an error here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

from webhook.cel.checked import literal_arguments, optional_entries
from webhook.cel.cost import LIMIT_EXCEEDED, METER, elements
from webhook.cel.k8s import OVERLOADS
from webhook.cel.k8s.declaration import Overload
from webhook.cel.k8s.pattern import PatternError, compiled

# Argument and result types our Kubernetes functions may name. The runtime dispatches on the
# kind of each argument, and a `dyn` parameter matches nothing at run time, so parameters
# always name a concrete kind; `dyn` is used only for results.
_TYPES: dict[str, Any] = {
    "bool": cel.Type.BOOL,
    "int": cel.Type.INT,
    "uint": cel.Type.UINT,
    "double": cel.Type.DOUBLE,
    "string": cel.Type.STRING,
    "bytes": cel.Type.BYTES,
    "null": cel.Type.NULL,
    "duration": cel.Type.DURATION,
    "timestamp": cel.Type.TIMESTAMP,
    "dyn": cel.Type.DYN,
    "list": cel.Type.List(cel.Type.DYN),
    "list(string)": cel.Type.List(cel.Type.STRING),
    "map": cel.Type.Map(cel.Type.DYN, cel.Type.DYN),
    "map(string, list(string))": cel.Type.Map(cel.Type.STRING, cel.Type.List(cel.Type.STRING)),
    "opaque": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
}


# The Kubernetes regex functions, whose literal patterns are compiled with the expression.
REGEX_FUNCTIONS = frozenset({"find", "findAll"})


class CelError(Exception):
    """An expression that does not compile (or could not be handed back by the runtime)."""


class CelEvalError(Exception):
    """An expression whose evaluation produced an error value."""


class Activation:
    """The variables of one request; the runtime converts and caches them lazily, so reuse it."""

    __slots__ = ("native",)

    def __init__(self, native: Any) -> None:
        self.native = native


class Program:
    """A compiled expression, safe to evaluate many times."""

    __slots__ = ("_expression", "source")

    def __init__(self, source: str, expression: Any) -> None:
        self.source = source
        self._expression = expression

    def evaluate(self, activation: Activation) -> object:
        """The result as a plain Python value; raises CelEvalError on an evaluation error.

        The cost meter starts afresh: what the expression spent is in `METER.spent`."""
        METER.start()
        try:
            value = self._expression.eval(activation=activation.native)
        except (RuntimeError, TypeError) as exc:  # e.g. a function result out of range
            raise CelEvalError(str(exc)) from exc
        if METER.exceeded:
            raise CelEvalError(LIMIT_EXCEEDED)
        return _plain(value)


class Environment:
    """Variables (all `dyn`), standard extensions and the Kubernetes libraries, built once."""

    def __init__(self, variables: Iterable[str]) -> None:
        self.variables = frozenset(variables)
        self._env = cel.NewEnv(
            variables={name: cel.Type.DYN for name in sorted(self.variables)},
            extensions=[
                ext_strings.ExtStrings(),
                ext_bindings.ExtBindings(),
                ext_encoders.ExtEncoders(),
                ext_math.ExtMath(),
                ext_optional.ExtOptional(),
                cel.CelExtension("kubernetes", _declarations(OVERLOADS)),
            ],
        )

    def compile(self, expr: str) -> Program:
        try:
            expression = self._env.compile(expr)
        except RuntimeError as exc:
            raise CelError(f"cannot compile {expr!r}: {exc}") from exc
        # An optional result cannot cross back into Python (it crashes the runtime when nested).
        if "optional_type" in expression.return_type().name():
            raise CelError(f"cannot compile {expr!r}: result must not be an optional value")
        serialized = expression.serialize()
        for _, pattern in literal_arguments(serialized, REGEX_FUNCTIONS):
            try:
                compiled(pattern)
            except PatternError as exc:  # as Kubernetes when it builds the program
                raise CelError(f"cannot compile {expr!r}: {exc}") from exc
        held = optional_entries(serialized)
        if held:
            raise CelError(
                f"cannot compile {expr!r}: the result may hold an optional value (at"
                f" {', '.join(held)}), which edgeguard cannot hand back from CEL; make it an"
                " optional entry ({?'key': x.?field}, [?x.?field]) or use .orValue(default)"
            )
        return Program(expr, expression)

    def activation(self, data: Mapping[str, Any]) -> Activation:
        unknown = set(data) - self.variables
        if unknown:
            raise ValueError(f"undeclared CEL variables: {sorted(unknown)}")
        return Activation(self._env.Activation(data=data))


OPTIONAL_RESULT = (
    "the result holds an optional value, which edgeguard cannot hand on (write an optional entry"
    " such as {?'key': x.?field}, or x.?field.orValue(default))"
)


def _plain(value: Any) -> object:
    """The Python form of a result, walked value by value so that an optional value (which
    reports type ERROR and has no Python form) is an error, not a crash in plain_value()."""
    kind = value.type()
    if kind == cel.Type.ERROR:
        raise CelEvalError(_error_text(value))
    name = kind.name()
    if name.startswith("MAP"):
        return {key: _plain(item) for key, item in value.value().items()}
    if name.startswith("LIST"):
        return [_plain(item) for item in value.value()]
    return value.plain_value()


def _error_text(value: Any) -> str:
    try:
        return str(value.value())
    except TypeError:  # an optional value reports type ERROR but has no Python form
        return OPTIONAL_RESULT


def _metered(overload: Overload) -> Any:
    impl, cost = overload.impl, overload.cost

    def call(*args: Any) -> object:
        METER.charge(cost(*args) + elements(args))
        return impl(*args)

    return call


def _declarations(overloads: Iterable[Overload]) -> list[Any]:
    by_function: dict[str, list[Any]] = {}
    for overload in overloads:
        native = cel.Overload(
            overload.id,
            _TYPES[overload.result],
            [_TYPES[param] for param in overload.params],
            overload.member,
            _metered(overload),
        )
        by_function.setdefault(overload.function, []).append(native)
    return [cel.FunctionDecl(name, natives) for name, natives in by_function.items()]
