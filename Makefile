# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The root dagster.yaml is the instance config; runs from the CLI show up in `make ui`.
export DAGSTER_HOME := $(CURDIR)
# uv needs the system certificates on this network (else: invalid peer certificate).
export UV_SYSTEM_CERTS := 1

DEMO_CREATORS ?= 300
DEMO_SEED ?= 7
DEMO_DIR ?= data/demo_world

.PHONY: install browser demo test lint ui bench bench-demo sharded lock audit clean

$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q -p $(BIN)/python -r requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## A real browser for the UI tests: Debian's chromium (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-wqy-zenhei >/dev/null)

## The main job on the embedded default: demo world -> DuckDB warehouse -> signals -> scorecards -> exports.
demo: install
	$(BIN)/kol-vetting demo --creators $(DEMO_CREATORS) --seed $(DEMO_SEED) --out $(DEMO_DIR)
	$(BIN)/kol-vetting ingest $(DEMO_DIR)
	$(BIN)/kol-vetting vet --brief briefs/*.yaml --out exports
	@echo "Warehouse:  $(CURDIR)/data/warehouse.duckdb"
	@echo "Demo world: $(CURDIR)/$(DEMO_DIR)"
	@echo "Exports:    $(CURDIR)/exports/<brief>/scorecard.xlsx and dossiers/index.html"

## The whole test suite.
test: install browser lint
	$(BIN)/python -m pytest

## Static checks (ruff, configured in pyproject.toml); part of `make test`.
lint: install
	$(BIN)/ruff check .

## The Dagster UI on 127.0.0.1:3000 with the project loaded.
ui: install
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

## Demo-world generator speed and memory (10k and 100k creators).
bench-demo: install
	$(BIN)/kol-vetting bench-demo --creators 10000,100000 --json bench_cache/demo_bench.json

## Full-pipeline benchmark: 1k and 10k creators, per stage, against a bare DuckDB scan (the floor).
bench: install
	$(BIN)/kol-vetting bench --creators 1000,10000 --json bench_cache/bench.json

## Authenticity by creator shard: one process per shard (Dagster multiprocess executor), then the combine.
SHARDS ?= 4
sharded: install
	KOL_CREATOR_SHARDS=$(SHARDS) $(BIN)/python -m pipelines.defs.shards --parallel $(SHARDS)

## Known vulnerabilities in the locked dependencies (needs the vulnerability service reachable;
## not part of `make test`). See docs/reliability.md for the findings.
audit: install
	$(BIN)/uv tool run --from pip-audit pip-audit -r requirements.lock --disable-pip --no-deps --strict

## Re-resolve the pinned versions (after editing pyproject.toml).
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev -p 3.11 -o requirements.lock

clean:
	rm -rf data exports .dagster_storage history storage schedules logs .logs_queue
