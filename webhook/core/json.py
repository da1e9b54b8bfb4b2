"""The one name for a decoded JSON (or YAML) object as edgeguard reads it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSONObject = Mapping[str, Any]
