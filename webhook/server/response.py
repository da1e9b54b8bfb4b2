"""AdmissionReview responses: the engine's Outcome in the apiVersion the request came in.

The only module that writes the response wire format.
See https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
"""

from __future__ import annotations

import base64
import json
from typing import Any

from webhook.core.outcome import Outcome
from webhook.core.review import Review

# metav1.StatusReason of each code a decision may carry (a ValidatingAdmissionPolicy's
# validation `reason` maps to its code, k8s.io/apimachinery/pkg/apis/meta/v1/types.go).
REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    413: "RequestEntityTooLarge",
    422: "Invalid",
    500: "InternalError",
}


def admission_response(review: Review, outcome: Outcome) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": review.uid, "allowed": outcome.allowed}
    if not outcome.allowed:
        response["status"] = {
            "code": outcome.code,
            "reason": REASONS.get(outcome.code, "Forbidden"),
            "message": outcome.message,
        }
    if outcome.warnings:
        response["warnings"] = list(outcome.warnings)
    if outcome.patch and outcome.allowed:
        text = json.dumps(list(outcome.patch), separators=(",", ":"))
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(text.encode()).decode()
    if outcome.audit:
        response["auditAnnotations"] = dict(outcome.audit)
    return {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": response}
