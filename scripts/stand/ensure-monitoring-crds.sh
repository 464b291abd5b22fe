#!/usr/bin/env bash
# Makes sure the Prometheus Operator's CustomResourceDefinitions for ServiceMonitor and
# PrometheusRule are on disk and prints their folder as the LAST line of stdout (messages go to
# stderr).
#
#   CRDS="$(scripts/stand/ensure-monitoring-crds.sh | tail -n1)"
#
# The chart's optional ServiceMonitor and PrometheusRule are checked against the real schemas by
# the stand's kube-apiserver. Those schemas ship in the prometheus-operator Go module
# (example/prometheus-operator-crd/*.yaml), so they are taken from the Go module proxy: one zip of
# ~4 MB into Go's module cache, a few seconds cold, instant after.
# Env: MONITORING_CRDS_VERSION (default below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

# A version the Go module proxy serves here (several newer and older ones are refused).
VERSION="${MONITORING_CRDS_VERSION:-v0.85.0}"
MODULE=github.com/prometheus-operator/prometheus-operator

command -v go >/dev/null 2>&1 ||
  stand_die "Go is needed to fetch the Prometheus Operator CRDs from the Go module proxy and was not found. Install Go (https://go.dev/dl)."

dir="$(GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[ -n "$dir" ] || stand_die "cannot download $MODULE@$VERSION from the Go module proxy ($(go env GOPROXY))"
crds="$dir/example/prometheus-operator-crd"
for kind in servicemonitors prometheusrules; do
  [ -f "$crds/monitoring.coreos.com_$kind.yaml" ] || stand_die "$MODULE@$VERSION has no $crds/monitoring.coreos.com_$kind.yaml; the layout has changed"
done
stand_log "monitoring CRDs: $crds ($MODULE $VERSION)"
echo "$crds"
