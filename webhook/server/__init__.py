"""The HTTPS transport: AdmissionReview in and out, health, metrics, logs, TLS. No policy logic."""
