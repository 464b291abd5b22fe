#!/usr/bin/env bash
# Makes sure a Chromium that playwright-core can drive exists, and prints its path as the LAST
# line of stdout (messages go to stderr).
#
#   CHROMIUM="$(scripts/stand/ensure-chromium.sh | tail -n1)"
#
# Looks at $CHROMIUM, then /usr/bin/chromium and PATH. If none, installs Debian's `chromium`
# package (with the Liberation and DejaVu fonts the console's screenshots are drawn in) with
# apt-get when run as root (CI) or with passwordless sudo; otherwise says what to install.
# playwright-core downloads no browser of its own: this one is used through `executablePath`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }
found() {
  stand_log "chromium: $1 ($("$1" --version 2>/dev/null | head -n1))"
  echo "$1"
  exit 0
}

if [ -n "${CHROMIUM:-}" ]; then
  runs "$CHROMIUM" && found "$CHROMIUM"
  stand_die "CHROMIUM=$CHROMIUM does not run ('$CHROMIUM --version' failed). Unset it or point it at a working Chromium."
fi
runs /usr/bin/chromium && found /usr/bin/chromium
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1 && runs "$(command -v "$name")"; then found "$(command -v "$name")"; fi
done

stand_log "Chromium not found: the console's browser tests need it"
stand_apt_install chromium fonts-liberation fonts-dejavu-core ||
  stand_die "Chromium not found. Install it (Debian/Ubuntu: apt-get install chromium fonts-liberation), or set CHROMIUM=/path/to/chromium."
runs /usr/bin/chromium && found /usr/bin/chromium
stand_die "apt-get installed chromium, but /usr/bin/chromium does not run"
