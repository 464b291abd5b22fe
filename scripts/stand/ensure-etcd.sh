#!/usr/bin/env bash
# Makes sure an etcd server binary (for the test stand's kube-apiserver) exists and prints its path
# as the LAST line of stdout (messages go to stderr).
#
#   ETCD="$(scripts/stand/ensure-etcd.sh | tail -n1)"
#
# Looks at $ETCD, PATH and /usr/bin/etcd. If none, installs Debian's `etcd-server` package (3.4)
# with apt-get when run as root (CI) or with passwordless sudo; otherwise says what to install.
# The package installs no running service on a machine without systemd, and the stand starts its
# own etcd on a free loopback port with a throw-away data folder anyway.
# Env: ETCD (use this binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }
found() {
  stand_log "etcd: $1 ($("$1" --version 2>&1 | head -n1))"
  echo "$1"
  exit 0
}

if [ -n "${ETCD:-}" ]; then
  runs "$ETCD" && found "$ETCD"
  stand_die "ETCD=$ETCD does not run ('$ETCD --version' failed). Unset it or point it at a working etcd."
fi
if command -v etcd >/dev/null 2>&1 && runs "$(command -v etcd)"; then
  found "$(command -v etcd)"
fi
runs /usr/bin/etcd && found /usr/bin/etcd

# Two test runs on a fresh machine may both get here: apt-get serialises them on its own lock
# (stand_apt_install retries), and the second finds the package installed.
stand_apt_install etcd-server ||
  stand_die "etcd not found. Install it (Debian/Ubuntu: apt-get install etcd-server; macOS: brew install etcd) or set ETCD=/path/to/etcd."
runs /usr/bin/etcd && found /usr/bin/etcd
stand_die "installed 'etcd-server' but /usr/bin/etcd does not run"
