# syntax=docker/dockerfile:1
# StreamSight, CPU image: Debian bookworm, Node 20, Debian's ffmpeg, compiled dist/.
#   docker build -t streamsight .
#   docker run --rm -v streamsight-models:/var/lib/streamsight/models streamsight models pull resnet50
#   docker run --rm -v streamsight-models:/var/lib/streamsight/models -v "$PWD:/videos:ro" streamsight analyze /videos/clip.mp4
# The GPU image (CUDA 12 + cuDNN 9): Dockerfile.gpu. Deployment with Redis: docker-compose.yml.
# test/integration/deploy/dockerfile.test.ts runs these steps' commands outside Docker.

ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only (npm ci --omit=dev), on the runtime's base so
# native modules (better-sqlite3, sharp, onnxruntime-node) match its glibc.
FROM ${NODE_IMAGE} AS deps
# better-sqlite3 downloads a prebuilt binary when it can and compiles one
# (node-gyp: python3, make, g++) when it cannot; the slim image has no compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# onnxruntime-node ships its CPU provider; its install script would fetch the
# CUDA provider (hundreds of MB) from NuGet: not in this image.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The compiler and its dependencies: dist/ (JavaScript, declarations, dashboard assets).
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/
COPY src/ src/
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
# A user of its own (not the base image's uid 1000 `node`), with a fixed uid so
# a models volume keeps its owner across images (CPU and GPU alike).
RUN groupadd --system --gid 10001 streamsight \
 && useradd --system --uid 10001 --gid streamsight --home-dir /var/lib/streamsight --no-create-home --shell /usr/sbin/nologin streamsight \
 && mkdir -p /var/lib/streamsight/models \
 && chown -R streamsight:streamsight /var/lib/streamsight
WORKDIR /app
ENV NODE_ENV=production \
    STREAMSIGHT_MODELS_DIR=/var/lib/streamsight/models
COPY package.json LICENSE README.md ./
COPY bin/ bin/
COPY config/ config/
COPY models/manifest.json models/imagenet-classes.txt models/README.md models/
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
RUN ln -s /app/bin/streamsight.js /usr/local/bin/streamsight \
 && streamsight --version
USER streamsight
# Registry models (`models pull`) and their edited copies live here, not in the image.
VOLUME ["/var/lib/streamsight/models"]
# serve and gateway listen on --port 8080; worker and ingest serve /healthz on
# --health-port 8080 (docker-compose.yml). A one-shot command (analyze, index,
# models) has no health port: its health status does not matter.
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/streamsight.js"]
CMD ["--help"]
