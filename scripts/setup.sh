#!/usr/bin/env bash
# Set-up of a fresh Debian/Ubuntu machine for StreamSight and its tests, in one
# command: the Debian packages in .ci/apt-packages.txt (ffmpeg, Redis, Chromium,
# VLC, GStreamer's RTSP server, ...), Debian's docker-compose without its
# recommends (it validates docker-compose.yml; no Docker engine is installed),
# Redis started on 127.0.0.1:6379 when none answers there, then `npm ci`.
# Idempotent: what is installed already is skipped. CI (.ci/run) runs this,
# then the README's test command (`npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

# Debian packages the project and its tests need: .ci/apt-packages.txt (one per line, # comments).
mapfile -t packages < <(grep -v '^\s*#' .ci/apt-packages.txt | sed 's/#.*//; s/\s*$//; /^\s*$/d')
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  apt_install "${need[@]}"
fi

# Debian's docker-compose validates docker-compose.yml without an engine (test/integration/deploy);
# without its recommends, which would pull in the Docker engine.
if ! command -v docker-compose >/dev/null; then
  echo "setup: installing docker-compose (without recommends)"
  apt_install --no-install-recommends docker-compose
fi

# Redis on 127.0.0.1:6379 for the distributed mode's tests; started when nothing answers there
# (a machine without systemd, or one where the service is stopped). It keeps nothing on disk.
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "setup: starting redis-server on 127.0.0.1:6379"
  mkdir -p /tmp/streamsight-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/streamsight-redis --logfile /tmp/streamsight-redis/redis.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG || { echo "setup: redis-server did not start (see /tmp/streamsight-redis/redis.log)" >&2; exit 1; }
fi

# npm packages from the lock file. onnxruntime-node's install script downloads CUDA libraries
# from outside the npm registry: skipped (.npmrc says so too; README "GPU hosts" tells how to get them).
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
echo "setup: done; run the tests with: npm test"
