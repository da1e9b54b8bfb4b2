"""The CEL `request` variable: the fields of an admission request that edgeguard knows.

Built from a `Review` the same way for the webhook and for files, so an expression sees one
shape whatever the request's source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.core.kinds import BY_KIND
from webhook.core.review import Review


def request_of(review: Review) -> Mapping[str, Any]:
    """The `request` CEL variable: the fields of an admission request edgeguard knows."""
    kind = {"group": review.kind.group, "version": review.kind.version, "kind": review.kind.kind}
    res = BY_KIND.get(review.group_kind)
    resource = {
        "group": review.kind.group,
        "version": review.kind.version,
        "resource": res.resource if res else "",
    }
    return {
        "uid": review.uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "subResource": "",
        "name": review.name,
        "namespace": review.namespace or "",
        "operation": review.operation,
        "userInfo": {"username": review.user},
        "dryRun": review.dry_run,
    }
