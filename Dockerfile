# One image for both processes; the command picks the role (compose: api, worker).
# Stage 1 installs everything and compiles; stage 2 runs the compiled JavaScript with production
# dependencies only (no TypeScript loader), as the unprivileged "node" user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/cli/package.json packages/cli/
COPY packages/console/package.json packages/console/
COPY packages/core/package.json packages/core/
COPY packages/devstack/package.json packages/devstack/
COPY packages/sandbox/package.json packages/sandbox/
COPY test/package.json test/
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:20-bookworm-slim AS runtime
# What the worker runs on its hypervisor (the API needs none of it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt-clients iproute2 nftables iptables conntrack python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/apps/api/package.json apps/api/
COPY --from=build /app/apps/api/dist apps/api/dist
COPY --from=build /app/apps/worker/package.json apps/worker/
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY --from=build /app/packages/cli/package.json packages/cli/
COPY --from=build /app/packages/cli/bin packages/cli/bin
COPY --from=build /app/packages/cli/dist packages/cli/dist
# The API runs unprivileged; the worker service overrides this (it changes the hypervisor's network).
USER node
EXPOSE 8080
CMD ["node", "apps/api/dist/index.js"]
