"""ReferenceGrants: which cross-namespace references the target namespace allows.

https://gateway-api.sigs.k8s.io/api-types/referencegrant/ — a grant lives in the namespace
of the referenced object and names the kinds (and namespaces) that may refer to it.
"""

from __future__ import annotations

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind
from webhook.core.objects import dicts, dig


def grant_permits(
    grant: JSONObject, source: GroupKind, namespace: str, target: GroupKind, name: str
) -> bool:
    """Whether a ReferenceGrant (in the target's namespace) lets `source` objects in
    `namespace` refer to the `target` kind object `name` (an empty `to.name`: any)."""
    from_ok = any(
        item.get("group", "") == source.group
        and item.get("kind") == source.kind
        and item.get("namespace") == namespace
        for item in dicts(dig(grant, "spec", "from"))
    )
    return from_ok and any(
        item.get("group", "") == target.group
        and item.get("kind") == target.kind
        and item.get("name") in (None, "", name)
        for item in dicts(dig(grant, "spec", "to"))
    )
