"""The cluster view's indexes, as Gateway API defines them: hostname claims, the objects
attached to each Gateway, and the users of each Service.

Supplied to the view by the wiring (`edgeguard serve`, review, test), so the framework never
parses a route itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.gateway.refs import Claim, backend_refs, claims, parent_refs
from webhook.core.json import JSONObject
from webhook.core.objects import ObjectKey
from webhook.core.view import Slot


class GatewayIndexers:
    """`webhook.core.view.Indexers` for Gateway API routes, Pools and OpenBaoClusters."""

    def claims(self, obj: JSONObject, key: ObjectKey) -> Iterable[Claim]:
        return claims(obj, key)

    def parents(self, obj: JSONObject) -> Iterable[Slot]:
        return [(parent.namespace, parent.name) for parent in parent_refs(obj)]

    def backends(self, obj: JSONObject) -> Iterable[Slot]:
        return [(backend.namespace, backend.name) for backend in backend_refs(obj)]


INDEXERS = GatewayIndexers()
