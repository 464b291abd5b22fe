#!/usr/bin/env bash
# Makes sure a kube-apiserver binary exists and prints its path as the LAST line of stdout
# (messages go to stderr).
#
#   KUBE_APISERVER="$(scripts/stand/ensure-kube-apiserver.sh | tail -n1)"
#
# The binary is built from the k8s.io/kubernetes Go module, taken from the Go module proxy only.
# `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` does not work (that module's go.mod points
# its staging modules at ./staging with `replace` lines, which only apply inside its own repo), so
# a throw-away wrapper module requires k8s.io/kubernetes vX.Y.Z and replaces every staging module
# it requires (k8s.io/api, k8s.io/apiserver, ... at v0.0.0) with the published k8s.io/<m> v0.Y.Z.
#
# The result is cached, keyed by Kubernetes version, Go version and platform, in
# ${KUBE_STAND_CACHE:-${XDG_CACHE_HOME:-~/.cache}/heroku-s3-controller}/kube-apiserver-<key>,
# so only the first run on a machine pays for the build. Measured on this project's 2-core machine
# (v1.37.2, go1.26.8, nothing cached): about 1,000 s of CPU, i.e. ~9-10 min on two idle cores
# (19-28 min wall while other jobs shared them), 2.3 GB peak memory, ~700 MB of downloaded modules
# kept in Go's module cache, a ~3 GB build cache removed afterwards, a 114 MB binary. Later runs:
# instant. The test stand runs this in the background while the rest of the suite runs.
#
# Env: KUBE_APISERVER (use this binary), KUBE_VERSION (default below), KUBE_STAND_CACHE.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

VERSION="${KUBE_VERSION:-v1.37.2}"
[ $# -eq 0 ] || stand_die "no arguments expected (got '$*'); see the comment at the top of $0"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }
found() {
  stand_log "kube-apiserver: $1 ($("$1" --version 2>&1 | head -n1))"
  echo "$1"
  exit 0
}

if [ -n "${KUBE_APISERVER:-}" ]; then
  runs "$KUBE_APISERVER" && found "$KUBE_APISERVER"
  stand_die "KUBE_APISERVER=$KUBE_APISERVER does not run ('$KUBE_APISERVER --version' failed). Unset it or point it at a working kube-apiserver."
fi

case "$VERSION" in
  v1.*.*) ;;
  *) stand_die "KUBE_VERSION=$VERSION is not a Kubernetes release like v1.37.2" ;;
esac

command -v go >/dev/null 2>&1 ||
  stand_die "Go is needed to build kube-apiserver from the k8s.io/kubernetes module and was not found. Install Go (https://go.dev/dl, or your package manager), or set KUBE_APISERVER=/path/to/kube-apiserver."

GOVERSION="$(go env GOVERSION)"
KEY="$VERSION-$GOVERSION-$(go env GOOS)-$(go env GOARCH)"
CACHE="${KUBE_STAND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heroku-s3-controller}"
BIN="$CACHE/kube-apiserver-$KEY"
runs "$BIN" && found "$BIN"

mkdir -p "$CACHE"
# Two test runs on a fresh machine may race here: the second waits for the first's build.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/kube-apiserver.lock"
  flock 9
  runs "$BIN" && found "$BIN"
fi

# Staging modules: v1.Y.Z of k8s.io/kubernetes goes with v0.Y.Z of each of them.
STAGING_VERSION="v0.${VERSION#v1.}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

started=$SECONDS
stand_log "building kube-apiserver $VERSION with $GOVERSION (first run on this machine only; several minutes on 2 cores)"
cd "$WORK"
cat >go.mod <<EOF
module heroku-s3-controller/stand/kube-apiserver

go 1.24
EOF
export GOFLAGS=-mod=mod
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
# A build cache of its own beside the binary, deleted once the binary is built: the compiled
# packages (about 3 GB) are of no use after that. Until then it is kept, so a build stopped half
# way (the test run ended first, or was killed) goes on from where it was next time. Downloaded
# modules stay in Go's module cache (~600 MB).
export GOCACHE="$BIN.gocache"
go mod download -json "k8s.io/kubernetes@$VERSION" >download.json ||
  stand_die "cannot download k8s.io/kubernetes@$VERSION from the Go module proxy ($(go env GOPROXY))"
upstream_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' download.json)"
[ -f "$upstream_mod" ] || stand_die "go mod download printed no go.mod path for k8s.io/kubernetes@$VERSION"

# Every module that k8s.io/kubernetes requires at v0.0.0 is a staging module.
mapfile -t staging < <(sed -n 's/^[[:space:]]*\(k8s\.io\/[A-Za-z0-9._-]*\) v0\.0\.0\([[:space:]].*\)*$/\1/p' "$upstream_mod" | sort -u)
[ "${#staging[@]}" -gt 10 ] || stand_die "found only ${#staging[@]} staging modules in k8s.io/kubernetes@$VERSION's go.mod; the layout has changed"
{
  echo "require k8s.io/kubernetes $VERSION"
  echo "replace ("
  for m in "${staging[@]}"; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} >>go.mod
cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
# Takes the rest of the dependency versions from the upstream go.mod (minimal version selection
# reaches the same versions, since every staging module of a release pins the same ones).
go mod tidy -e >&2 || stand_die "go mod tidy failed for the kube-apiserver wrapper module (messages above)"
mkdir -p "$WORK/out"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$VERSION" | cut -d. -f2)" \
  -o "$WORK/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2 ||
  stand_die "go build k8s.io/kubernetes/cmd/kube-apiserver ($VERSION) failed (messages above)"
mv "$WORK/out/kube-apiserver" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
rm -rf "$GOCACHE"
stand_log "built kube-apiserver $VERSION in $((SECONDS - started)) s ($(du -h "$BIN" | cut -f1)): $BIN"
runs "$BIN" || stand_die "the built $BIN does not run"
found "$BIN"
