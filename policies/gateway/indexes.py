"""The view's derived indexes for Gateway API: the attachment topology, and the
BackendTLSPolicies of each Service.

Supplied to the view by the wiring (`edgeguard serve`, review, test), so the framework never
parses a route itself.
"""

from __future__ import annotations

from policies.gateway.backend_tls import BackendTLS
from policies.gateway.topology import Topology
from webhook.core.view import Deriving

INDEXES: tuple[Deriving, ...] = (Topology, BackendTLS)
