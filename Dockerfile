# Vigie services for docker compose: the runtime lock only (no test tools, no demo sinks).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends mosquitto-clients mosquitto \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY src ./src
COPY simulators ./simulators
RUN pip install --no-cache-dir --no-deps -e .
ENTRYPOINT ["vigie"]
