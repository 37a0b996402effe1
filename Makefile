# The two commands of the README: `make demo` and `make test`. Each installs what it uses.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PG_PORT ?= 55432
export VIGIE_DATABASE_URL ?= postgresql://postgres@127.0.0.1:$(PG_PORT)/vigie

.PHONY: setup assets services demo test lint unit bench-ingest bench-alerts bench-motion bench-firmware bench-api bench-review chaos soak lock audit clean-demo fuzz

setup:
	@bash scripts/setup.sh

# The web app's front-end libraries (npm, pinned by web/package-lock.json) into the static folder.
assets:
	@bash scripts/assets.sh

services: setup
	@bash scripts/timescaledb.sh
	@bash scripts/mosquitto.sh

demo: services assets
	@bash scripts/demo.sh

lint: setup
	$(BIN)/ruff check src simulators tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two pytest workers (pytest-xdist): most tests wait on the real services rather than on the CPU.
# Tests are dealt one by one (xdist's default): with --dist loadfile, the 96 cases schemathesis
# generates were reported as 2 passed tests. TEST_WORKERS=0 runs them here, one after another.
TEST_WORKERS ?= 2
unit: setup assets
	@bash scripts/timescaledb.sh
	$(BIN)/pytest -q -n $(TEST_WORKERS)

test: lint unit

bench-ingest: services
	$(BIN)/python bench/ingest.py

# API read paths on a kept year of 50 gauges (~26 M rows, loaded once, ~5 min), open loop at
# 200 req/s then stepped up, CSV export, 200 SSE clients; prints JSON. Not in `make test`.
# BENCH_API_ARGS passes options (e.g. BENCH_API_ARGS=--reload to load the data again).
bench-api: services
	$(BIN)/python -m bench.api $(BENCH_API_ARGS)

# The naturalists' review (issue 11 §4) on a kept database of 100,000 events and 300,000
# observations over 20 cameras with real clip files (loaded once): the gallery and clip Range
# requests at 50 req/s, the whole Camtrap DP export (time, API peak RSS, validated); prints JSON.
# Not in `make test`. BENCH_REVIEW_ARGS passes options (e.g. --reload, --no-export).
bench-review: services
	$(BIN)/python -m bench.review $(BENCH_REVIEW_ARGS)

# Chaos (issue 14): process, network (namespaces + fault proxy) and disk faults under the gauge
# simulators' load, on a database server of its own; prints JSON. Needs root (ip netns, mount).
# Not in `make test`. CHAOS_ARGS passes options (e.g. CHAOS_ARGS='--faults kill,network --kills 5').
chaos: services
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# Soak (issue 14): `vigie up` under 500 gauges (every 10 s, two storms) and two webcams for
# SOAK_MINUTES (60), sampled every SOAK_SAMPLE_S (60 s); prints JSON, draws docs/soak.png.
# Not in `make test`.
soak: services
	nice -n 5 $(BIN)/python -m bench.soak

# Alerts: crossing -> e-mail latency under 2,500 readings/s, evaluation cost, 5,000-SMS fan-out (~15 min).
bench-alerts: services
	$(BIN)/python bench/bench_alerts.py

# Coverage-guided fuzzing of ingest's parser (atheris), FUZZ_SECONDS long; not part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_ARTIFACTS ?= /tmp/vigie-fuzz
fuzz: setup
	$(BIN)/pip install -q atheris==3.0.0
	@mkdir -p $(FUZZ_ARTIFACTS)
	@corpus=$$(mktemp -d) && cp fuzz/seeds/* $$corpus/ && \
	  PYTHONPATH=. $(BIN)/python fuzz/fuzz_parse.py -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/json.dict \
	    -artifact_prefix=$(FUZZ_ARTIFACTS)/ -print_final_stats=1 $$corpus; \
	  status=$$?; rm -rf $$corpus; exit $$status

# Gauge firmware under MicroPython's Unix port with the simulated board: energy, RAM, replay time.
bench-firmware: services
	$(BIN)/python bench/firmware.py

# Two locks: requirements.lock is what production runs (the Docker image), with no test tools;
# requirements-dev.lock adds the demo's sinks and the test and lint tools (`make setup`).
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes
lock:
	uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	uv pip compile pyproject.toml --extra demo --extra dev $(LOCK_FLAGS) -o requirements-dev.lock

# Installs Debian's motion (the peer) itself; runs ~35-40 min: motion reads the footage in real time.
bench-motion:
	@EXTRA_APT_PACKAGES=motion bash scripts/setup.sh
	nice -n 5 $(BIN)/python bench/motion.py

# Known vulnerabilities in the locked dependencies (pip-audit and the PyPI advisory database).
audit: setup
	@bash scripts/audit.sh
