#!/usr/bin/env bash
# Fills this overlay: writes certs/ (ca.crt, ca.key, tls.crt, tls.key for the Service
# edgeguard.edgeguard.svc) with `edgeguard certs generate`, and cabundle.yaml, the patch that
# puts the CA into both webhook configurations. Run it again to renew: the previous CA stays in
# the bundle, so the API server trusts both the old and the new serving certificate while the
# pods pick up the new one.
#   EDGEGUARD   the command to run; by default this checkout's .venv/bin/edgeguard (made by
#               `python3 dev.py test` or `python3 dev.py serve`), else `edgeguard` on PATH
#   extra arguments are passed to `edgeguard certs generate` (e.g. --days 90)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv_edgeguard="$here/../../../.venv/bin/edgeguard"
if [[ -n "${EDGEGUARD:-}" ]]; then
  read -r -a edgeguard <<<"$EDGEGUARD"
elif [[ -x "$venv_edgeguard" ]]; then
  edgeguard=("$(cd "$(dirname "$venv_edgeguard")" && pwd)/edgeguard")
elif command -v edgeguard >/dev/null 2>&1; then
  edgeguard=(edgeguard)
else
  echo "generate.sh: edgeguard not found: run 'python3 dev.py test' in the repository once" \
    "(it makes .venv/bin/edgeguard), put edgeguard on PATH, or set EDGEGUARD" >&2
  exit 2
fi

previous=""
if [[ -f "$here/certs/ca.crt" ]]; then
  previous="$(cat "$here/certs/ca.crt")"
fi

# --force: renewing is what this script is for (the previous CA is kept in the bundle below).
"${edgeguard[@]}" certs generate --service edgeguard --namespace edgeguard --out "$here/certs" --force "$@"

bundle="$(
  {
    cat "$here/certs/ca.crt"
    if [[ -n "$previous" && "$previous" != "$(cat "$here/certs/ca.crt")" ]]; then
      printf '%s\n' "$previous"
    fi
  } | base64 | tr -d '\n'
)"

cat >"$here/cabundle.yaml" <<YAML
# Written by generate.sh: the CA bundle for both webhook configurations.
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: edgeguard
webhooks:
  - name: validate.edgeguard.io
    clientConfig:
      caBundle: $bundle
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: edgeguard
webhooks:
  - name: mutate.edgeguard.io
    clientConfig:
      caBundle: $bundle
YAML
echo "wrote $here/cabundle.yaml; apply with: kubectl apply --server-side -k $here"
