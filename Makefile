# The two commands: `make run` and `make test`. Needs only Python >= 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := .venv
export UV_LINK_MODE := copy

.PHONY: run test lint schema bench install clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --quiet
	touch $@

install: .venv/.synced

run: install ## start embedded Postgres + Valkey (unless DATABASE_URL / REDIS_URL), migrate, seed, serve
	.venv/bin/partner-leads run

test: install ## the whole suite on real Postgres and Valkey
	.venv/bin/pytest -q

lint: install
	.venv/bin/ruff check app workers tests bench
	.venv/bin/mypy app workers

schema: install ## regenerate schema.graphql from the code
	.venv/bin/partner-leads export-schema

bench: install ## load benchmark (needs wrk); results go in bench/RESULTS.md by hand
	.venv/bin/python -m bench.run

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
