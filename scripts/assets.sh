#!/usr/bin/env bash
# `make assets`: the web app's front-end libraries, from npm (web/package-lock.json, pinned), copied
# into src/api/web/static/vendor/ which the API serves under /static. Installs node and npm from
# Debian when absent. Nothing is fetched at run time: this runs before `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "[assets] apt-get install nodejs npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=web/node_modules/.vigie-lock-$(sha256sum web/package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "[assets] npm ci (web/package-lock.json)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
(cd web && node copy-assets.mjs)
