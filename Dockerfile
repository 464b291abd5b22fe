# syntax=docker/dockerfile:1
#
# heroku-s3-controller container image.
#
#   docker build -t heroku-s3-controller .
#   docker run --read-only --tmpfs /tmp -v hs3-data:/data -p 8080:8080 heroku-s3-controller
#
# Two stages: `build` compiles TypeScript with the dev dependencies; the runtime stage gets a clean
# production-only install (`npm ci --omit=dev`) plus the compiled dist/ and the SQL migrations, and
# nothing else (no src/, no tests, no compiler). .dockerignore keeps the build context to what the
# stages copy. scripts/image/rehearse.sh replays these steps without a Docker engine (CI has none).
#
# Base image: the Node 24 LTS slim image on Debian 13 (trixie), pinned by tag and by the digest of
# its multi-platform index (from docker-library/repo-info, build of 2026-09-19). To update:
#   docker buildx imagetools inspect node:24-trixie-slim   # then copy the new tag and index digest
ARG NODE_IMAGE=node:24.21.0-trixie-slim@sha256:8ec5d7557396cfe32d21c3f9c13072355ceab22b584578ca4bb28af31120cffe

# ---- build: dev dependencies + tsc ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source-only change reuses the npm ci layer. The cache mount keeps the
# npm cache out of the layer (BuildKit).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, dist/, migrations/ ----------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG APP_UID=10001
# A numeric, dedicated user (not the image's `node`, uid 1000, which often collides with host
# users), so Kubernetes' runAsNonRoot can verify it without a name lookup. It has a passwd entry
# (tools like `id` and os.userInfo() work) but no home and no shell.
# /data is the default DATA_DIR of the embedded PGlite database, owned by that user; on a
# read-only root filesystem mount a volume there (Kubernetes: DATABASE_URL is expected instead).
RUN groupadd --system --gid "${APP_UID}" heroku-s3-controller \
    && useradd --system --no-log-init --uid "${APP_UID}" --gid "${APP_UID}" \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin heroku-s3-controller \
    && mkdir -p /data \
    && chown "${APP_UID}:${APP_UID}" /data \
    && chmod 0700 /data

WORKDIR /app
# The application files stay owned by root and read-only for the app user: it can write only to
# DATA_DIR (/data) and /tmp. --ignore-scripts: no production dependency has an install script, and
# none may run one here.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY migrations ./migrations

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    PUBLIC_PORT=8081

USER ${APP_UID}:${APP_UID}
# 8080: the private listener (health, metrics, admin API); 8081: the public one (Heroku's webhooks
# and the Partner API), the only one to expose outside the cluster.
EXPOSE 8080 8081

# No HEALTHCHECK: Kubernetes ignores Docker's HEALTHCHECK and probes /healthz (liveness) and
# /readyz (readiness) itself (see deploy/helm); the slim image has no curl to run one anyway.
#
# Signals: `node` runs as PID 1 directly, with no init (tini or `docker run --init`). That is
# correct here because `serve` installs its own SIGTERM and SIGINT handlers (PID 1 gets no default
# signal actions from the kernel, so a handler is required) and shuts down cleanly with exit 0, and
# the controller starts no child processes, so there are no zombies to reap. A shell form (or
# `npm start`) would put sh/npm at PID 1 and swallow SIGTERM; the exec form avoids that.
# One-off commands (`plan`, `reconcile --once`, `link`) are short; to interrupt one interactively
# run it with `docker run --init`.
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
