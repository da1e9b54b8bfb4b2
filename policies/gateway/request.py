"""The attachment of the object under review, worked out once per request for every policy.

Policies call `attachment_of(review, view)`; the first call attaches the object through the
view's `Topology` and keeps the answer on the Review (its per-request memo), so the policies
that follow only ask questions of it. The answer is kept with the Topology and its version:
the read-through (which may add a Gateway before the policies run) or another view gets a new
one, and the same Topology unchanged — the watched view and a reserving view with nothing
pending share it — the same answer.
"""

from __future__ import annotations

from policies.gateway.attachment import Attachment, Reason
from policies.gateway.claims import Claim
from policies.gateway.model import Route
from policies.gateway.refs import BackendRef, backend_refs
from policies.gateway.topology import Topology, claims_of
from webhook.core.kinds import GATEWAY, LISTENERSET
from webhook.core.policy import Need
from webhook.core.review import Review
from webhook.core.view import ClusterView

MEMO = "gateway.attachment"
BACKENDS = "gateway.backends"
CLAIMS = "gateway.claims"


def topology(view: ClusterView) -> Topology:
    return view.derived(Topology)


def attachment_of(review: Review, view: ClusterView) -> Attachment | None:
    """The reviewed object's attachment (None: it is not a kind that attaches)."""
    topo = topology(view)
    found = review.memo.get(MEMO)
    if found is not None and found[0] is topo and found[1] == topo.version:
        result: Attachment | None = found[2]
        return result
    obj = review.object
    route = Route.parse(obj, review.namespace) if obj is not None else None
    result = topo.attach(route) if route is not None else None
    review.memo[MEMO] = (topo, topo.version, result)
    return result


def claims_for(review: Review, view: ClusterView) -> list[Claim]:
    """The hostname claims of the reviewed object's attachment (`claims_of`), kept with that
    attachment: the verdict and the claim step after it (the same view unchanged) share them."""
    attachment = attachment_of(review, view)
    if attachment is None:
        return []
    found = review.memo.get(CLAIMS)
    if found is not None and found[0] is attachment:
        claims: list[Claim] = found[1]
        return claims
    claims = claims_of(attachment.route, attachment)
    review.memo[CLAIMS] = (attachment, claims)
    return claims


def backends_of(review: Review) -> list[BackendRef]:
    """The reviewed object's backends (`backend_refs`, request mirrors left out), read once
    per request for every policy that asks (the object does not change within a review)."""
    found: list[BackendRef] | None = review.memo.get(BACKENDS)
    if found is None:
        obj = review.object
        found = review.memo[BACKENDS] = backend_refs(obj) if obj is not None else []
    return found


def parent_needs(review: Review, view: ClusterView) -> list[Need]:
    """The Gateways and ListenerSets the object's parentRefs name that the view lacks (and the
    Gateway of a ListenerSet it has)."""
    return missing_parents(attachment_of(review, view))


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
