# Shared helpers for scripts/stand/*.sh (sourced, not executed).

stand_log() { printf '[stand] %s\n' "$*" >&2; }
stand_die() {
  printf '[stand] ERROR: %s\n' "$*" >&2
  exit 1
}

# How we may install system packages: "root", "sudo" (passwordless sudo) or "" (we may not).
stand_privilege() {
  if [ "$(id -u)" = "0" ]; then
    echo root
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    echo sudo
  else
    echo ""
  fi
}

# Installs Debian/Ubuntu packages non-interactively when we are allowed to. Returns 1 if we cannot.
stand_apt_install() {
  local how
  how="$(stand_privilege)"
  if [ -z "$how" ] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  local sudo=()
  [ "$how" = "sudo" ] && sudo=(sudo -n)
  stand_log "installing system packages: $* (apt-get, as $how)"
  # apt-get can hold the dpkg lock briefly after a previous install; retry on lock contention.
  local attempt
  for attempt in 1 2 3; do
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; then
      return 0
    fi
    stand_log "apt-get failed (attempt $attempt), retrying in 5 s"
    sleep 5
  done
  return 1
}

stand_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}
