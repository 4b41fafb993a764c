# syntax=docker/dockerfile:1
# The mlsecrets operator image (Node.js 24, the version package.json pins; see
# docs/decisions/0002-typescript-toolchain.md).
#   docker build -t mlsecrets:dev .
# Runs as uid/gid 65532 (non-root), writes nothing at runtime (fits readOnlyRootFilesystem),
# and has no HEALTHCHECK: the Deployment's liveness/readiness probes hit /healthz and /readyz.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: every dependency (dev included) from the lock file, then tsc -> dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The lock file alone decides what is installed; the overrides block lives in package.json.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: of the production dependencies only protobufjs has one (a version
# check). The packages allowScripts lets run (node, @swc/core) are devDependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# uid 65532 has no passwd entry: an explicit HOME keeps os.homedir() (the AWS SDK looks for
# ~/.aws there, and finds nothing) from failing.
# V8 sizes its heap from the machine's memory, not the pod's: a young generation of up to
# 128 MiB and an old generation it lets fill with garbage for long before collecting. Both are
# capped (bench/README.md: peak RSS at N=1000 from ~260 to ~140 MiB, no measurable CPU cost);
# the live heap measured ~50 MiB at 1,000 bindings. Raise --max-old-space-size (chart
# extraEnv: NODE_OPTIONS) for far more bindings. Two glibc malloc arenas instead of one per
# thread (libuv and V8 worker threads): ~5 MiB less resident memory, no measurable CPU cost.
# Fixed malloc trim and mmap thresholds (128 KiB, glibc's starting values): glibc otherwise
# raises both after freeing a large block (up to 32 and 64 MiB) and then keeps that much freed
# memory resident; at 10,000 bindings a rotation burst left ~15 MiB of it (bench/README.md).
# The benchmark runs the operator with these.
ENV NODE_ENV=production \
  HOME=/nonexistent \
  MALLOC_ARENA_MAX=2 \
  MALLOC_TRIM_THRESHOLD_=131072 \
  MALLOC_MMAP_THRESHOLD_=131072 \
  NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=256"
WORKDIR /app
# Everything stays owned by root and is only readable by the operator's user.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
# 8080 metrics, 8081 health probes, 9443 pod webhook.
EXPOSE 8080 8081 9443
CMD ["node", "dist/main.js"]
