# One image, one process: `docker run` it behind your SSO proxy (README: "Production").
# Node 24 LTS (Node 20 is end-of-life); the code also runs on Node 20, which the tests use.

# Build stage: compiles better-sqlite3's native addon; the compilers stay here.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: tsx runs the TypeScript as it is (no build step, the same code the
# tests run), better-sqlite3 and @slack/web-api do the work.
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime stage: no compilers, no dev dependencies, not root.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATABASE_PATH=/data/account-binding.db
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The volume's folder must exist, owned by node, before VOLUME: a fresh named volume copies it.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
# No curl in slim images: Node itself asks /healthz (200 once the database can be written).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, node as PID 1's child under --init (or PID 1 itself): SIGTERM reaches the server,
# which drains and exits 0. Never `npm start`, which does not pass signals on.
CMD ["node", "--import", "tsx", "src/main.ts"]
