#!/usr/bin/env bash
# Creates the Kind cluster "bindy-load" and installs bindy from a local checkout of
# github.com/firestoned/bindy, then one Bind9Cluster named "bindy-load" whose primary instance
# accepts zones from the load test's namespaces. Needs: kind, kubectl, Docker, a bindy checkout.
#
#   kind/install-bindy.sh /path/to/bindy
#   pytest loadtests -m burst --profile quick --kube-context kind-bindy-load
set -euo pipefail
BINDY_DIR=${1:?usage: kind/install-bindy.sh /path/to/bindy-checkout}
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in kind kubectl; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 2; }
done
[ -d "$BINDY_DIR/deploy/operator/crds" ] || { echo "error: $BINDY_DIR has no deploy/operator/crds" >&2; exit 2; }

kind get clusters | grep -qx bindy-load || kind create cluster --config "$HERE/cluster.yaml"
ctx=kind-bindy-load
kubectl --context "$ctx" apply --server-side -f "$BINDY_DIR/deploy/operator/crds"
kubectl --context "$ctx" create namespace bindy-system --dry-run=client -o yaml | kubectl --context "$ctx" apply -f -
kubectl --context "$ctx" apply -f "$BINDY_DIR/deploy/operator/rbac/"
kubectl --context "$ctx" apply -f "$BINDY_DIR/deploy/operator/deployment.yaml"
kubectl --context "$ctx" -n bindy-system rollout status deploy/bindy --timeout=180s

# One primary; bindcar's default rate limit (1 request/s) off, or the test measures the limiter.
kubectl --context "$ctx" apply -f - <<'YAML'
apiVersion: bindy.firestoned.io/v1beta1
kind: Bind9Cluster
metadata:
  name: bindy-load
  namespace: bindy-system
spec:
  primary:
    replicas: 1
  global:
    bindcarConfig:
      envVars:
        - name: RATE_LIMIT_ENABLED
          value: "false"
YAML
# The load test creates its own labelled namespaces; let their zones select this instance.
for _ in $(seq 1 60); do
  kubectl --context "$ctx" -n bindy-system get bind9instance bindy-load-primary-0 >/dev/null 2>&1 && break
  sleep 2
done
kubectl --context "$ctx" -n bindy-system annotate --overwrite bind9instance bindy-load-primary-0 \
  'bindy.firestoned.io/allow-zone-namespaces=*'
kubectl --context "$ctx" -n bindy-system wait --for=condition=Ready bind9instance/bindy-load-primary-0 --timeout=300s
echo "ready: pytest loadtests -m burst --profile quick --kube-context $ctx"
