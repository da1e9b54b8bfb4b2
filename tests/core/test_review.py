"""Review: the edge where AdmissionReviews and manifests become one request type."""

from __future__ import annotations

from tests.support import admission_review, widget
from webhook.core.review import GroupVersionKind, Review, _placed


def test_from_admission_reads_every_field_and_places_the_namespace() -> None:
    obj = widget()
    del obj["metadata"]["namespace"]
    body = admission_review(obj, dry_run=True)
    body["request"]["namespace"] = "team-a"
    review = Review.from_admission(body)
    assert review == Review(
        uid="705ab4f5-6393-11e8-b7cc-42010a800002",
        operation="CREATE",
        kind=GroupVersionKind("example.com", "v1", "Widget"),
        namespace="team-a",
        name="w1",
        object={**obj, "metadata": {**obj["metadata"], "namespace": "team-a"}},
        old_object=None,
        dry_run=True,
        user="alice",
        api_version="admission.k8s.io/v1",
    )
    assert "namespace" not in obj["metadata"]


def test_from_manifest_for_delete_puts_the_object_in_old_object() -> None:
    obj = widget()
    review = Review.from_manifest(obj, "DELETE", source="a.yaml:3")
    assert (review.object, review.old_object, review.current) == (None, obj, obj)
    assert (review.namespace, review.name, review.source) == ("default", "w1", "a.yaml:3")
    assert str(review.kind) == "example.com/v1, Kind=Widget"


def test_the_edge_places_the_namespace_only_when_missing() -> None:
    bare = {"kind": "Pool", "metadata": {"name": "p"}}
    assert _placed(bare, "ns") == {"kind": "Pool", "metadata": {"name": "p", "namespace": "ns"}}
    assert _placed(bare, None) is bare
    owned = {"metadata": {"name": "p", "namespace": "other"}}
    assert _placed(owned, "ns") is owned
