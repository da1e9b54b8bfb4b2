"""CEL: the runtime (the one door to cel-expr-python), the Kubernetes CEL libraries and the
`request` variable. Knows no policy."""
