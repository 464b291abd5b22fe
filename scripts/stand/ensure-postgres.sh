#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, postgres, pg_ctl) exist and prints their
# directory as the LAST line of stdout (messages go to stderr).
#
#   PG_BIN="$(scripts/stand/ensure-postgres.sh | tail -n1)"
#
# Looks at $PG_BIN, PATH, /usr/lib/postgresql/*/bin (Debian/Ubuntu, newest first) and a few other
# usual places. If none, installs Debian's `postgresql` package with apt-get when run as root (CI)
# or with passwordless sudo; otherwise says what to install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
. "$ROOT/scripts/stand/lib.sh"

has_server_bins() { [ -x "$1/initdb" ] && [ -x "$1/postgres" ] && [ -x "$1/pg_ctl" ]; }

find_pg_bin() {
  local candidates=() d
  [ -n "${PG_BIN:-}" ] && candidates+=("$PG_BIN")
  if command -v initdb >/dev/null 2>&1; then
    candidates+=("$(dirname "$(readlink -f "$(command -v initdb)")")")
  fi
  # Debian/Ubuntu: newest major version first.
  while IFS= read -r d; do candidates+=("$d"); done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r)
  while IFS= read -r d; do candidates+=("$d"); done < <(ls -d /usr/pgsql-*/bin /opt/homebrew/opt/postgresql*/bin /usr/local/opt/postgresql*/bin 2>/dev/null | sort -V -r)
  candidates+=(/usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin /usr/bin)
  for d in "${candidates[@]}"; do
    if has_server_bins "$d"; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if ! dir="$(find_pg_bin)"; then
  stand_log "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found"
  stand_apt_install postgresql ||
    stand_die "PostgreSQL server binaries not found. Install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), set PG_BIN=/path/to/postgres/bin, or point DATABASE_URL at an existing server."
  dir="$(find_pg_bin)" || stand_die "installed 'postgresql' but still found no initdb/postgres/pg_ctl"
fi
stand_log "PostgreSQL server binaries: $dir ($("$dir/postgres" --version))"
echo "$dir"
