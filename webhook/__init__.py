"""edgeguard: a Kubernetes admission webhook for TLS-identity edges on the Gateway API."""
