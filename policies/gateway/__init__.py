"""Gateway API semantics the policies share: references, listeners, grants, Services, and the
view's indexes. One place for each; policies ask here rather than parse objects themselves."""
