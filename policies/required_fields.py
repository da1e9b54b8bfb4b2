"""route-required-fields: an enabled route needs a valid hostname and a Gateway reference.

The rules are CEL, declared in required_fields.yaml beside this module and compiled once when
the module loads (a rule that does not compile stops the program at start).
"""

from __future__ import annotations

from pathlib import Path

from webhook.policy import Policy
from webhook.rules import load

RULES = load(Path(__file__).with_name("required_fields.yaml"))

POLICY = Policy(
    "route-required-fields",
    RULES.kinds,
    RULES.check,
    operations=frozenset({"CREATE", "UPDATE"}),
    description="An enabled Pool route or OpenBao gateway needs a valid hostname and gatewayRef.",
)
