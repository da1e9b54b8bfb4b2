"""User policies in Kubernetes' ValidatingAdmissionPolicy format: loaded and compiled at start
(`load`), matched against requests (`match`), evaluated with CEL (`evaluate`)."""
