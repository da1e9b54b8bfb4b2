"""Admission in input order for objects that claim a hostname: what `edgeguard review` lets
each object see.

`kubectl apply` sends objects in order, and the API server admits the first claim of a
hostname and refuses the next. So an object that claims a hostname (the view's derived indexes
say which: `MemoryView.reserves`) sees the cluster state, every input object that claims
nothing (Gateways, Services, grants, certificates: a route finds the Gateway of a later file),
and the claiming objects before it that were admitted; never a later claim, nor one refused.
Objects that claim nothing are reviewed afterwards, against all that was admitted. It decides
no verdict: `admit` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from webhook.cluster.memory import MemoryView
from webhook.core.objects import ObjectKey, key_of
from webhook.core.policy import Policy, kept_fields
from webhook.core.view import ClusterView, Deriving
from webhook.yamlio.manifests import Document

Report = TypeVar("Report")
# Admits one document over a view: the report, and whether it was allowed.
Admit = Callable[[ClusterView, Document], tuple[Report, bool]]


class InputOrder:
    """The views of one review run, built up as the claiming objects are admitted in order."""

    def __init__(
        self,
        cluster: Sequence[Document],
        documents: Sequence[Document],
        derive: Sequence[Deriving],
        policies: Iterable[Policy],
    ) -> None:
        kept = kept_fields(policies)
        everything = MemoryView(
            [*(d.obj for d in cluster), *(d.obj for d in documents)], derive=derive, kept=kept
        )
        self.documents = documents
        self.claiming = [_claims(everything, d) for d in documents]
        self.view = MemoryView(
            [
                *(d.obj for d in cluster),
                *(d.obj for d, claims in zip(documents, self.claiming, strict=True) if not claims),
            ],
            derive=derive,
            kept=kept,
        )
        self._cluster = {k: d.obj for d in cluster if (k := key_of(d.obj)) is not None}
        self.admitted: list[int] = []

    def order(self) -> list[int]:
        """Claiming objects first, in input order; then the others, in input order."""
        first = [i for i, claims in enumerate(self.claiming) if claims]
        return first + [i for i, claims in enumerate(self.claiming) if not claims]

    def admit(self, index: int, admit: Admit[Report]) -> Report:
        """Admit one input object; a claiming one stays in the view only when allowed."""
        document = self.documents[index]
        if not self.claiming[index]:
            return admit(self.view, document)[0]
        self.view.upsert(document.obj)
        report, allowed = admit(self.view, document)
        if allowed:
            self.admitted.append(index)
        else:
            self._remove(key_of(document.obj))
        return report

    def without(self, indexes: Sequence[int], index: int, admit: Admit[Report]) -> Report:
        """Object `index` admitted again as if the admitted `indexes` were not there (to tell
        whether its denial comes from them); the view is left as it was."""
        document = self.documents[index]
        keys = [key_of(self.documents[i].obj) for i in indexes]
        for key in keys:
            self._remove(key)
        self.view.upsert(document.obj)
        try:
            return admit(self.view, document)[0]
        finally:
            self._remove(key_of(document.obj))
            for i in indexes:
                self.view.upsert(self.documents[i].obj)

    def _remove(self, key: ObjectKey | None) -> None:
        """Take an input object out of the view, putting back the cluster's version."""
        if key is None:
            return
        self.view.delete(key.group_kind, key.namespace, key.name)
        if key in self._cluster:
            self.view.upsert(self._cluster[key])


def _claims(view: MemoryView, document: Document) -> bool:
    key = key_of(document.obj)
    return key is not None and view.reserves(document.obj, key)
