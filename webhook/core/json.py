"""The one name for a decoded JSON (or YAML) object as edgeguard reads it, and the one JSON
codec of the admission path (requests, answers, the CEL workers' pipe): orjson when installed
(edgeguard[fast]), else the standard library, which also takes what orjson refuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the optional edgeguard[fast] extra
    orjson = None  # type: ignore[assignment]

JSONObject = Mapping[str, Any]


def loads(raw: bytes) -> Any:
    """What orjson refuses goes to the standard library, which decides and words the error.
    One difference remains: orjson reads integers beyond 64 bits as floats (Kubernetes never
    sends them)."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact JSON bytes. What orjson refuses (a lone surrogate in a message that echoes a
    name from the request, an integer beyond 64 bits) the standard library writes."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:
            pass
    return json.dumps(value, separators=(",", ":")).encode()
