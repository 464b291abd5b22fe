#!/usr/bin/env bash
# Makes sure a pinned Helm 3 exists and prints its path as the LAST line of stdout (messages go to
# stderr).
#
#   HELM="$(scripts/stand/ensure-helm.sh | tail -n1)"
#
# Helm is built from its Go module with `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION` (no
# release tarball is downloaded: only the Go module proxy is used). The binary is kept in
# $(go env GOPATH)/bin/helm-$HELM_VERSION/helm, outside the work tree, so fresh clones on the same
# machine (CI) reuse it; Go's module and build caches make a rebuild cheap too.
# Measured on 2 cores: cold (empty Go module and build caches) ~10 minutes, mostly downloading
# ~150 modules; with warm Go caches ~10 s; cached binary: instant.
#
# Looks at $HELM first (used as is, any 3.x), then the cached pinned build.
# Env: HELM (use this binary), HELM_VERSION (default below), HELM_BIN_DIR (where to install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

# A version the Go module proxy is known to serve (.library go-partial list) and that builds with
# `go install` (helm v3's go.mod has no replace directives).
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

runs() { [ -x "$1" ] && "$1" version --short >/dev/null 2>&1; }
found() {
  stand_log "helm: $1 ($("$1" version --short 2>&1 | head -n1))"
  echo "$1"
  exit 0
}

if [ -n "${HELM:-}" ]; then
  runs "$HELM" && found "$HELM"
  stand_die "HELM=$HELM does not run ('$HELM version' failed). Unset it or point it at a working helm 3."
fi

command -v go >/dev/null 2>&1 ||
  stand_die "helm is not installed and Go is not on PATH to build it. Install Go >= 1.24 (https://go.dev/dl/) or helm 3 (https://helm.sh/docs/intro/install/) and set HELM=/path/to/helm."

GOPATH_DIR="$(go env GOPATH | cut -d: -f1)"
DEST="${HELM_BIN_DIR:-$GOPATH_DIR/bin/helm-$HELM_VERSION}"
LOCAL="$DEST/helm"
# The cached binary must come from this script's current recipe (version + build flags): a stamp
# file beside it records that.
RECIPE="helm ${HELM_VERSION} recipe 2"
pinned() { runs "$1" && [ "$(cat "$DEST/.recipe" 2>/dev/null)" = "$RECIPE" ]; }
pinned "$LOCAL" && found "$LOCAL"

# Two test runs on a fresh machine may race here: serialise them.
mkdir -p "$DEST"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEST/install.lock"
  flock 9
  pinned "$LOCAL" && found "$LOCAL"
fi

stand_log "building helm $HELM_VERSION with go install into $DEST (first run only; a few minutes on 2 cores)"
start=$(date +%s)
# Helm's Makefile sets its version and the Kubernetes version it assumes (for `helm template`,
# `helm lint` and chart kubeVersion checks; without it helm assumes v1.20) through ldflags: do the
# same. The Kubernetes version is the client-go one helm is built with, v0.X.Y -> 1.X.
GOMOD="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
[ -n "$GOMOD" ] && [ -f "$GOMOD" ] ||
  stand_die "go mod download helm.sh/helm/v3@${HELM_VERSION} failed (Go module proxy reachable?). Or install helm 3 yourself and set HELM=/path/to/helm."
K8S_MINOR="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$GOMOD" | head -n1)"
[ -n "$K8S_MINOR" ] || stand_die "cannot find the k8s.io/client-go version in $GOMOD"
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDFLAGS="$LDFLAGS -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${K8S_MINOR}"
done
if ! GOBIN="$DEST" GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath" CGO_ENABLED=0 \
  go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2; then
  stand_die "go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed (Go module proxy reachable? see above). Or install helm 3 yourself and set HELM=/path/to/helm."
fi
runs "$LOCAL" || stand_die "$LOCAL does not run after go install ('$LOCAL version' failed)"
echo "$RECIPE" >"$DEST/.recipe"
stand_log "helm $HELM_VERSION built in $(($(date +%s) - start)) s"
found "$LOCAL"
