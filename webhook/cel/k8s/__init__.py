"""The Kubernetes CEL libraries (lists, regex, url, ip/cidr, quantity, semver, format).

Each module declares its overloads without naming the CEL runtime; `webhook.cel` registers
them. See https://kubernetes.io/docs/reference/using-api/cel/ for the reference semantics.
"""

from __future__ import annotations

from webhook.cel.k8s import cidr, format, ip, lists, ordering, quantity, regex, semver, urls
from webhook.cel.k8s.declaration import Overload

OVERLOADS: tuple[Overload, ...] = (
    *lists.OVERLOADS,
    *regex.OVERLOADS,
    *urls.OVERLOADS,
    *ip.OVERLOADS,
    *cidr.OVERLOADS,
    *quantity.OVERLOADS,
    *semver.OVERLOADS,
    *ordering.OVERLOADS,
    *format.OVERLOADS,
)

__all__ = ["OVERLOADS", "Overload"]
