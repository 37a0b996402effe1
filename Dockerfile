# Vigie services for docker compose: the runtime lock only (no test tools, no demo sinks).
# The web app's front-end libraries, as `make assets` does: npm ci from the committed lock, copied.
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY web/package.json web/package-lock.json web/copy-assets.mjs ./web/
RUN cd web && npm ci --no-audit --no-fund && node copy-assets.mjs

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends mosquitto-clients mosquitto \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY src ./src
COPY --from=assets /app/src/api/web/static/vendor ./src/api/web/static/vendor
COPY simulators ./simulators
RUN pip install --no-cache-dir --no-deps -e .
# The services run as this unprivileged user (docker-compose.yml sets `user: vigie`); /media and
# /run/vigie are created here so that named volumes mounted there start out owned by it.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin vigie \
    && mkdir -p /media /run/vigie && chown vigie:vigie /media /run/vigie
USER vigie
ENTRYPOINT ["vigie"]
