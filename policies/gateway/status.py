"""What Gateway API controllers report in `status`: conditions and supported features.

Read off GatewayClasses and Gateways as the view keeps them (only the status fields the
policies declare in `reads_status`). A status is written by a controller, never by the user,
and is absent from manifests that were never stored, so "not reported" is its own answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from webhook.core.json import JSONObject
from webhook.core.objects import as_list, dicts, dig

STATUSES = ("True", "False", "Unknown")
MAX_MESSAGE = 200  # characters of a controller's condition message quoted in a finding
# The status fields policies read of GatewayClasses and Gateways (Policy.reads_status).
CONDITION_FIELDS = (
    "conditions.type",
    "conditions.status",
    "conditions.reason",
    "conditions.message",
)


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # True, False or Unknown
    reason: str
    message: str

    def describe(self) -> str:
        """`Accepted: False, reason InvalidParameters: "the message"`."""
        text = f"{self.type}: {_cut(self.status)}"
        if self.reason:
            text += f", reason {_cut(self.reason)}"
        if self.message:
            text += f': "{_cut(self.message)}"'
        return text


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _cut(text: str) -> str:
    """A controller's words, at most MAX_MESSAGE characters (the CRD allows 32 KiB)."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def reported(obj: JSONObject) -> bool:
    """Whether a controller (or the API server's defaults) wrote any condition."""
    return bool(dicts(dig(obj, "status", "conditions")))


def condition(obj: JSONObject, kind: str) -> Condition | None:
    """The condition of this type in `status.conditions`, or None when there is none."""
    for item in dicts(dig(obj, "status", "conditions")):
        if item.get("type") == kind:
            status = item.get("status")
            return Condition(
                kind,
                status if status in STATUSES else "Unknown",  # the CRD's enum
                _text(item.get("reason")),
                _text(item.get("message")),
            )
    return None


def supported_features(gateway_class: JSONObject) -> frozenset[str] | None:
    """The feature names a GatewayClass publishes in `status.supportedFeatures` (items
    `{name: ...}` since Gateway API v1.2, plain strings before), or None when it publishes
    none: then support is Unknown, not absent."""
    found = set()
    for item in as_list(dig(gateway_class, "status", "supportedFeatures")):
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            found.add(name)
    return frozenset(found) or None
