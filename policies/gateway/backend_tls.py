"""BackendTLSPolicies by the Service they target: whether the Gateway speaks TLS to a backend.

A BackendTLSPolicy (https://gateway-api.sigs.k8s.io/api-types/backendtlspolicy/) names its
targets in `spec.targetRefs` (LocalPolicyTargetReference: its own namespace; group "" and kind
Service for a Service). `BackendTLS` is the view's derived index of them, (namespace, Service)
to the policies' names, so a check is a dictionary lookup. A targetRef's `sectionName` (one
port of the Service) is not told apart: the view does not keep Services' port names.
"""

from __future__ import annotations

from webhook.core.json import JSONObject
from webhook.core.kinds import BACKENDTLSPOLICY
from webhook.core.objects import ObjectKey, dicts, dig

Slot = tuple[str, str]  # (namespace, Service name)


def targets(obj: JSONObject, namespace: str) -> tuple[Slot, ...]:
    """The Services a BackendTLSPolicy targets, in order, once each."""
    found: dict[Slot, None] = {}
    for ref in dicts(dig(obj, "spec", "targetRefs")):
        name = ref.get("name")
        service = (ref.get("group") or "") == "" and ref.get("kind") == "Service"
        if service and isinstance(name, str) and name:
            found[(namespace, name)] = None
    return tuple(found)


class BackendTLS:
    """The BackendTLSPolicies of each Service (a `Derived` index; with `base`, an overlay)."""

    def __init__(self, base: BackendTLS | None = None) -> None:
        self.base = base
        self._by_service: dict[Slot, dict[str, None]] = {}
        self._targets: dict[Slot, tuple[Slot, ...]] = {}  # (namespace, policy) -> its targets

    def policies(self, namespace: str, service: str) -> tuple[str, ...]:
        """The names of the BackendTLSPolicies that target the Service, sorted."""
        own = self._by_service.get((namespace, service), {})
        theirs = self.base.policies(namespace, service) if self.base is not None else ()
        return tuple(sorted({*theirs, *own}))

    def upsert(self, obj: JSONObject, key: ObjectKey) -> None:
        if key.group_kind != BACKENDTLSPOLICY:
            return
        self.delete(key)
        slots = targets(obj, key.namespace)
        self._targets[(key.namespace, key.name)] = slots
        for slot in slots:
            self._by_service.setdefault(slot, {})[key.name] = None

    def delete(self, key: ObjectKey) -> None:
        if key.group_kind != BACKENDTLSPOLICY:
            return
        for slot in self._targets.pop((key.namespace, key.name), ()):
            names = self._by_service.get(slot)
            if names is not None:
                names.pop(key.name, None)
                if not names:
                    del self._by_service[slot]

    def reserves(self, obj: JSONObject, key: ObjectKey) -> bool:
        return False  # a policy claims nothing: the watch shows it soon enough
