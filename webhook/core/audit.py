"""Audit annotation keys as the API server accepts them from a webhook.

The API server files a webhook's annotation `key` as `<webhook name>/<key>` and drops (with a
log line only) a key that does not make a qualified name with it: one segment of at most 63
characters, alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric
(k8s.io/apiserver/pkg/admission/plugin/webhook/validating/dispatcher.go, AddAnnotation).
"""

from __future__ import annotations

import hashlib
import re

MAX_KEY = 63
_VALID = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_INVALID_CHARACTERS = re.compile(r"[^-A-Za-z0-9_.]+")


def audit_key(*parts: str) -> str:
    """`parts` joined by '_' (which no policy name holds, so the join is unambiguous), '/'
    made '_'; too long or otherwise invalid, shortened and made unique by a hash suffix."""
    key = "_".join(part.replace("/", "_") for part in parts)
    if len(key) <= MAX_KEY and _VALID.fullmatch(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    kept = _INVALID_CHARACTERS.sub("-", key)[: MAX_KEY - len(digest) - 1].strip("-_.")
    return f"{kept}-{digest}" if kept else digest
