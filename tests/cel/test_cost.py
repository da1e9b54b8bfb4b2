"""webhook.cel.cost through the runtime: what each Kubernetes function charges, and the limit."""

from __future__ import annotations

import pytest

from webhook.cel.cost import LIMIT_EXCEEDED, METER, PER_CALL_LIMIT, Meter
from webhook.cel.runtime import CelEvalError, Environment

ENV = Environment(["object"])
LONG = "a" * 99_999  # find() over it: ceil(100,000 * 0.1) * ceil(len(pattern) * 0.25)


@pytest.mark.parametrize(
    ("expr", "spent"),
    [
        ("object.items.indexOf(1)", 1 + 4 * 3),  # nominal, plus 4 per list element converted
        ("object.items.sum() + object.items.max()", (1 + 4 * 3) * 2),
        ("quantity('4Gi').compareTo(quantity('1Gi'))", 1 + 1 + 1),
        ("isURL('https://example.com/a/long/path')", 4),  # ceil(33 * 0.1)
        ("object.long.find('[a-z]+')", 10_000 * 2),
        ("object.long.findAll('^([a-z0-9]+-?)+$')", 10_000 * 4),
        ("'abc'.matches('b')", 0),  # cel-cpp's own functions are not metered
    ],
)
def test_each_library_call_charges_the_kubernetes_cost(expr: str, spent: int) -> None:
    activation = ENV.activation({"object": {"items": [3, 1, 2], "long": LONG}})
    ENV.compile(expr).evaluate(activation)
    assert METER.spent == spent


def test_an_expression_over_the_per_call_limit_is_cancelled() -> None:
    # 20,000 units per find(): the 51st call goes over 1,000,000.
    activation = ENV.activation({"object": {"long": LONG, "n": list(range(60))}})
    program = ENV.compile("object.n.all(i, object.long.find('[a-z]+') != '')")
    with pytest.raises(CelEvalError) as caught:
        program.evaluate(activation)
    assert str(caught.value) == LIMIT_EXCEEDED == "operation cancelled: actual cost limit exceeded"
    assert METER.spent > PER_CALL_LIMIT
    fewer = ENV.activation({"object": {"long": LONG, "n": list(range(50))}})
    assert program.evaluate(fewer) is True
    assert METER.spent == 50 * 20_000


def test_the_meter_calls_its_hook_when_the_limit_is_passed() -> None:
    meter, calls = Meter(limit=10), []
    meter.on_exceeded = lambda: calls.append(meter.spent)
    meter.charge(10)
    with pytest.raises(Exception, match=LIMIT_EXCEEDED):
        meter.charge(1)
    assert (calls, meter.exceeded) == ([11], True)
    meter.start()
    assert (meter.spent, meter.exceeded) == (0, False)
