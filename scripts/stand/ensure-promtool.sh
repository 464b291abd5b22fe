#!/usr/bin/env bash
# Makes sure Prometheus's `promtool` (used to lint our /metrics output) exists and prints its path
# as the LAST line of stdout (messages go to stderr).
#
#   PROMTOOL="$(scripts/stand/ensure-promtool.sh | tail -n1)"
#
# Looks at $PROMTOOL, PATH, then the project-local copy (.venv/promtool/bin/promtool). If none,
# takes promtool out of Debian's `prometheus` package: `apt-get download` + `dpkg-deb -x` into
# .venv/promtool. That installs no Prometheus server (nothing to start or stop), pulls none of the
# package's web-UI dependencies, and needs root only to refresh apt's package lists if they are
# missing. About 20 MB to download, a few seconds.
# (`go install github.com/prometheus/prometheus/cmd/promtool@…` was tried and rejected: recent
# versions fail on a dependency the Go module proxy no longer serves, older ones refuse because
# Prometheus's go.mod has replace directives.)
# Env: PROMTOOL (use this binary), PROMTOOL_DIR (default <repo>/.venv/promtool).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

DEST="${PROMTOOL_DIR:-$ROOT/.venv/promtool}"
LOCAL="$DEST/bin/promtool"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }
found() {
  stand_log "promtool: $1 ($("$1" --version 2>&1 | head -n1))"
  echo "$1"
  exit 0
}

if [ -n "${PROMTOOL:-}" ]; then
  runs "$PROMTOOL" && found "$PROMTOOL"
  stand_die "PROMTOOL=$PROMTOOL does not run ('$PROMTOOL --version' failed). Unset it or point it at a working promtool."
fi
if command -v promtool >/dev/null 2>&1 && runs "$(command -v promtool)"; then
  found "$(command -v promtool)"
fi
runs "$LOCAL" && found "$LOCAL"

MANUAL="Install Prometheus's promtool and put it on PATH (Debian/Ubuntu: apt-get install prometheus; macOS: brew install prometheus), or set PROMTOOL=/path/to/promtool."
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  stand_die "promtool not found, and this is not a Debian/Ubuntu machine (no apt-get/dpkg-deb) to take it from. $MANUAL"
fi

# Two test runs on a fresh clone may race here: serialise them.
mkdir -p "$DEST/bin"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEST/install.lock"
  flock 9
  runs "$LOCAL" && found "$LOCAL"
fi

candidate() { apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1; }

refresh_lists() {
  local how sudo=()
  how="$(stand_privilege)"
  [ -n "$how" ] || return 1
  [ "$how" = "sudo" ] && sudo=(sudo -n)
  stand_log "refreshing apt's package lists (apt-get update, as $how)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
}

VERSION="$(candidate)"
if [ -z "$VERSION" ] || [ "$VERSION" = "(none)" ]; then
  refresh_lists ||
    stand_die "promtool not found, and apt knows no 'prometheus' package while its package lists cannot be refreshed (apt-get update needs root or passwordless sudo). Run 'apt-get update' as root, or: $MANUAL"
  VERSION="$(candidate)"
  [ -n "$VERSION" ] && [ "$VERSION" != "(none)" ] ||
    stand_die "promtool not found, and apt offers no 'prometheus' package on this machine. $MANUAL"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# As root, apt would drop to its _apt user, which cannot write into our temp folder.
APT_OPTS=(-qq)
[ "$(id -u)" = "0" ] && APT_OPTS+=(-o APT::Sandbox::User=root)

download() { (cd "$TMP" && apt-get "${APT_OPTS[@]}" download "prometheus=$VERSION") >&2; }

stand_log "fetching promtool from Debian's prometheus $VERSION into $DEST (first run only, ~20 MB)"
start=$(date +%s)
if ! download; then
  # Stale lists name a version the mirror no longer has: refresh once and retry.
  refresh_lists && VERSION="$(candidate)" && download ||
    stand_die "apt-get download prometheus=$VERSION failed (network? package mirror reachable?). $MANUAL"
fi
DEB="$(ls "$TMP"/prometheus_*.deb 2>/dev/null | head -n1)"
[ -n "$DEB" ] || stand_die "apt-get download left no prometheus_*.deb in $TMP"
dpkg-deb -x "$DEB" "$TMP/x" || stand_die "dpkg-deb could not unpack $DEB"
[ -f "$TMP/x/usr/bin/promtool" ] || stand_die "Debian's prometheus $VERSION has no usr/bin/promtool"
install -m 0755 "$TMP/x/usr/bin/promtool" "$LOCAL.tmp"
mv -f "$LOCAL.tmp" "$LOCAL"
runs "$LOCAL" || stand_die "$LOCAL does not run after unpacking ('$LOCAL --version' failed)"
stand_log "promtool from prometheus $VERSION unpacked in $(($(date +%s) - start)) s"
found "$LOCAL"
