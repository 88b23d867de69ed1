# Images for docker-compose.yml. One build stage, two runtime targets: `web` and `agent`.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY apps/web/package.json apps/web/
COPY apps/agent/package.json apps/agent/
COPY packages/protocol/package.json packages/protocol/
COPY packages/db/package.json packages/db/
COPY packages/core/package.json packages/core/
COPY packages/api/package.json packages/api/
COPY packages/cli/package.json packages/cli/
COPY packages/test-support/package.json packages/test-support/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsx scripts/prisma-generate.ts && npx tsx scripts/build.ts

FROM node:20-bookworm-slim AS web
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
COPY --from=build /src /app
EXPOSE 3000
CMD ["node", "--import", "tsx", "scripts/serve.ts"]

FROM debian:bookworm-slim AS agent
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs runc conmon nftables iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/apps/agent/dist/berth-agent.js /opt/berth/berth-agent.js
VOLUME /var/lib/berth
ENTRYPOINT ["node", "/opt/berth/berth-agent.js"]
CMD ["run", "--state-dir", "/var/lib/berth"]
