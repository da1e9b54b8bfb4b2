"""The attachment of the object under review, worked out once per request for every policy.

Policies call `attachment_of(review, view)`; the first call attaches the object through the
view's `Topology` and keeps the answer on the Review (its per-request memo), so the policies
that follow only ask questions of it.
"""

from __future__ import annotations

from policies.gateway.attachment import Attachment, Reason
from policies.gateway.model import Route
from policies.gateway.topology import Topology
from webhook.core.json import JSONObject
from webhook.core.kinds import GATEWAY, LISTENERSET
from webhook.core.policy import Need
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


def parent_needs(review: Review, view: ClusterView) -> list[Need]:
    """The Gateways and ListenerSets the object's parentRefs name that the view lacks (and the
    Gateway of a ListenerSet it has). Not memoized: asked before the read-through fills them."""
    return missing_parents(attach_object(review.object, view, review.namespace))


def missing_parents(attachment: Attachment | None) -> list[Need]:
    """`parent_needs` of an attachment already worked out."""
    needs: list[Need] = []
    for parent in attachment.parents if attachment is not None else ():
        if parent.reason is not Reason.PARENT_NOT_FOUND:
            continue
        ref = parent.parent
        if parent.listener_set is not None and parent.listener_set.parent is not None:
            needs.append((GATEWAY, *parent.listener_set.parent))
        elif ref.is_listener_set:
            needs.append((LISTENERSET, ref.namespace, ref.name))
        elif ref.is_gateway:
            needs.append((GATEWAY, ref.namespace, ref.name))
    return needs
