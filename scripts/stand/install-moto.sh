#!/usr/bin/env bash
# Installs the pinned moto server (requirements-test.txt) into a project-local virtualenv.
#
#   scripts/stand/install-moto.sh          # -> .venv/moto/bin/moto_server
#
# Idempotent: returns at once when the venv was built from the current requirements-test.txt.
# Env: MOTO_VENV (default <repo>/.venv/moto), PYTHON (default python3).
# On Debian/Ubuntu, installs python3 / python3-venv with apt-get when run as root (CI) or with
# passwordless sudo; otherwise says what to install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

VENV="${MOTO_VENV:-$ROOT/.venv/moto}"
REQ="$ROOT/requirements-test.txt"
STAMP="$VENV/.stand-requirements.sha256"
PYTHON="${PYTHON:-python3}"

[ -f "$REQ" ] || stand_die "missing $REQ"
PIN="$(sed -n 's/^moto\[server\]==\([^ ;#]*\).*/\1/p' "$REQ" | head -n1)"
[ -n "$PIN" ] || stand_die "no 'moto[server]==<version>' line in $REQ"
WANT="$(stand_sha256 "$REQ")"

installed() {
  [ -x "$VENV/bin/moto_server" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]
}

if installed; then
  stand_log "moto $PIN already installed in $VENV"
  exit 0
fi

# Two test runs on a fresh clone may race here: serialise them.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.install.lock"
  flock 9
  if installed; then
    stand_log "moto $PIN already installed in $VENV"
    exit 0
  fi
fi

# --- Python 3 with venv + ensurepip ------------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  stand_apt_install python3 python3-venv ||
    stand_die "$PYTHON not found. Install Python >= 3.9 with venv support (Debian/Ubuntu: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3."
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  stand_die "moto $PIN needs Python >= 3.9; $PYTHON is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.x."
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian/Ubuntu ship venv's ensurepip separately (python3-venv / python3.X-venv).
  PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  stand_apt_install python3-venv "python$PYVER-venv" || stand_apt_install python3-venv ||
    stand_die "'$PYTHON -m venv' is not usable (module venv/ensurepip missing). On Debian/Ubuntu: apt-get install python3-venv (or python$PYVER-venv)."
  "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
    stand_die "'$PYTHON -m venv' is still not usable after installing python3-venv."
fi

# --- virtualenv + pinned packages --------------------------------------------------------------
stand_log "installing moto[server]==$PIN into $VENV (first run only, about a minute)"
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || stand_die "'$PYTHON -m venv $VENV' failed"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
if ! "${PIP[@]}" install -r "$REQ" >&2; then
  # The full pin set was frozen on CPython 3.11; another Python may lack wheels for some pins.
  stand_log "WARNING: the fully pinned install of $REQ failed on $("$PYTHON" -V 2>&1);"
  stand_log "WARNING: falling back to moto[server]==$PIN with freshly resolved dependencies."
  "${PIP[@]}" install "moto[server]==$PIN" >&2 ||
    stand_die "pip could not install moto[server]==$PIN (network? PyPI reachable?)"
fi

GOT="$("$VENV/bin/python" -c 'import moto; print(moto.__version__)')" ||
  stand_die "moto does not import in $VENV"
[ "$GOT" = "$PIN" ] || stand_die "installed moto $GOT, expected $PIN"
[ -x "$VENV/bin/moto_server" ] || stand_die "$VENV/bin/moto_server missing after install"
echo "$WANT" >"$STAMP"
stand_log "moto $GOT installed in $VENV in $(($(date +%s) - start)) s"
