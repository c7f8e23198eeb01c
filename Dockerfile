# One image, one process: `docker run` it behind your SSO proxy (README: "Production").
# Node 24 LTS (Node 20 is end-of-life); the code also runs on Node 20, which the tests use.

# Build stage: compiles better-sqlite3's native addon; the compilers stay here.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: better-sqlite3, @slack/web-api and pg do the work; tsx stays for
# `npm start` and `npm run admin`, which a shell in the container may use.
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime stage: no compilers, no dev dependencies, not root.
FROM node:24-bookworm-slim
# IN_CONTAINER and DATA_VOLUME tell the self-check where it runs (docs/reference.md): loopback-only
# settings are warned about, and an unwritable or misplaced database is named with the fix on the volume.
ENV NODE_ENV=production \
    PORT=3000 \
    DATABASE_PATH=/data/account-binding.db \
    DATA_VOLUME=/data \
    IN_CONTAINER=1 \
    NODE_COMPILE_CACHE=/app/.compile-cache
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The volume's folder must exist, owned by node, before VOLUME: a fresh named volume copies it.
RUN mkdir -p /data /app/.compile-cache && chown node:node /data /app/.compile-cache
VOLUME /data
USER node
# Node 24 runs the TypeScript sources itself (type stripping: no tsx, no build step, the same files
# the tests run). Its stripper is 17 MB of memory and 130 ms at every start; Node's compile cache
# (NODE_COMPILE_CACHE) keeps each file's result, so it is filled here: main.ts loads every module
# and stops for want of configuration (exit 2 with its message, expected), then the modules loaded
# on demand. The cache serves only this Node, user node (uid 1000), the same V8 flags and a CPU with
# the same features as the build machine's; otherwise Node strips again, silently: slower to start,
# nothing else (docs/performance.md).
RUN node src/main.ts >/tmp/warm.log 2>&1; status=$?; \
    if [ $status -ne 2 ] || ! grep -q 'invalid configuration' /tmp/warm.log; then cat /tmp/warm.log; exit 1; fi; \
    node --input-type=module -e "await import('/app/src/store/postgres.ts'); await import('@slack/web-api'); await import('ws')" \
 && node src/admin.ts help >/dev/null \
 && test -n "$(ls -A /app/.compile-cache)" \
 && rm /tmp/warm.log
EXPOSE 3000
# No curl in slim images: Node itself asks /healthz (200 once the database can be written).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, node as PID 1's child under --init (or PID 1 itself): SIGTERM reaches the server,
# which drains and exits 0. Never `npm start`, which does not pass signals on.
# --max-semi-space-size=1: V8's young generation kept at 1 MB per half instead of growing to 16:
# about 25 MB less under load for 3% more CPU (docs/performance.md). Other flags may go in
# NODE_OPTIONS, but this one wins over NODE_OPTIONS: to change it, override the command.
CMD ["node", "--max-semi-space-size=1", "src/main.ts"]
