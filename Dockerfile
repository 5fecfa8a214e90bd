# One image for the three apps: gateway (default), processor, replay (`tributary` CLI).
FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential python3 \
      libssl-dev zlib1g-dev libzstd-dev libsasl2-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Link the system OpenSSL/zlib instead of downloading their sources.
ENV CKJS_LINKING=dynamic
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
COPY migrations migrations
COPY bin bin
RUN npx tsc -p tsconfig.build.json && npx tsc-alias -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 zlib1g libzstd1 libsasl2-2 ca-certificates \
      && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
COPY package.json ./
USER node
EXPOSE 8080
CMD ["node", "dist/apps/gateway/src/main.js"]
