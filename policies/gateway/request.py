"""The attachment of the object under review, worked out once per request for every policy.

Policies call `attachment_of(review, view)`; the first call attaches the object through the
view's `Topology` and keeps the answer on the Review (its per-request memo), so the policies
that follow only ask questions of it.
"""

from __future__ import annotations

from policies.gateway.attachment import Attachment
from policies.gateway.model import Route
from policies.gateway.topology import Topology
from webhook.core.json import JSONObject
from webhook.core.review import Review
from webhook.core.view import ClusterView

MEMO = "gateway.attachment"


def topology(view: ClusterView) -> Topology:
    return view.derived(Topology)


def attachment_of(review: Review, view: ClusterView) -> Attachment | None:
    """The reviewed object's attachment (None: it is not a kind that attaches)."""
    found = review.memo.get(MEMO)
    if found is not None and found[0] is view:
        result: Attachment | None = found[1]
        return result
    result = attach_object(review.object, view, review.namespace)
    review.memo[MEMO] = (view, result)
    return result


def attach_object(
    obj: JSONObject | None, view: ClusterView, namespace: str | None = None
) -> Attachment | None:
    route = Route.parse(obj, namespace) if obj is not None else None
    return topology(view).attach(route) if route is not None else None
