# One image for both processes; the command picks the role.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt-clients iproute2 nftables iptables conntrack \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/core/package.json packages/core/
COPY packages/devstack/package.json packages/devstack/
COPY packages/sandbox/package.json packages/sandbox/
COPY test/package.json test/
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
ENV NODE_ENV=production
CMD ["npx", "tsx", "apps/api/src/index.ts"]
