#!/usr/bin/env bash
# Rehearses the container image's build and start without a Docker engine (none is available in
# CI): replays the Dockerfile's stages in a temp folder (build context filtered by .dockerignore,
# `npm ci` + `npm run build`, then a clean `npm ci --omit=dev` with only package*.json, dist/ and
# migrations/), starts `node dist/cli/main.js serve` from there as the image's numeric USER (when
# run as root), checks /healthz, /readyz and /metrics, sends SIGTERM and expects exit 0, and checks
# that no dev-only package was installed. See scripts/image/rehearse.mjs for the details.
#
#   scripts/image/rehearse.sh [--keep] [--report FILE] [--database-url URL]
#
# --database-url URL adds a start as in Kubernetes (PostgreSQL, read-only DATA_DIR).
# Needs Node >= 20.19 and npm; about a minute with a warm npm cache. Exit status 0 on success.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v node >/dev/null 2>&1 || { echo "[rehearse] ERROR: node is not on PATH" >&2; exit 1; }
exec node "$ROOT/scripts/image/rehearse.mjs" "$@"
