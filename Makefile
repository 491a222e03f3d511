# The two commands: `make run` and `make test`. Needs only Python >= 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := .venv
export UV_LINK_MODE := copy

.PHONY: run test lint schema bench bench-full soak install clean messages locale

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --quiet
	touch $@

install: .venv/.synced

run: install ## start embedded Postgres + Valkey (unless DATABASE_URL / REDIS_URL), migrate, seed, serve
	.venv/bin/partner-leads run

test: install chromium ## the whole suite on real Postgres and Valkey (and the SPA in chromium)
	.venv/bin/pytest -q

# The SPA's browser tests (tests/web) drive Debian's chromium through Playwright (never
# `playwright install`: its download host is not reachable from every network).
.PHONY: chromium screenshots
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "chromium is missing: installing it with apt-get (the SPA's browser tests need it)"; \
		if [ "$$(id -u)" = 0 ]; then APT=""; elif command -v sudo >/dev/null 2>&1; then APT="sudo"; \
		else echo "cannot install chromium: run as root, or install it yourself (apt-get install -y chromium)" >&2; exit 1; fi; \
		$$APT apt-get update && DEBIAN_FRONTEND=noninteractive $$APT apt-get install -y chromium \
		|| { echo "installing chromium failed: install it yourself (apt-get install -y chromium) and run make test again" >&2; exit 1; }; \
	}

screenshots: install chromium ## the SPA's screenshots in docs/screenshots (README, "The reference SPA")
	SCREENSHOT_DIR=docs/screenshots .venv/bin/pytest -q tests/web

.PHONY: fuzz
FUZZ_EXAMPLES ?= 2000

fuzz: install ## hypothesis-graphql over the whole schema, FUZZ_EXAMPLES per test (8 tests)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) .venv/bin/pytest -q tests/security/test_fuzz.py

lint: install
	.venv/bin/ruff check app workers tests bench
	.venv/bin/mypy app workers

schema: install ## regenerate schema.graphql from the code
	.venv/bin/partner-leads export-schema

# Languages (README, "Languages and time zones"): the catalogues under app/locales are read as
# they are, compiled in memory; these targets only keep them in step with the code.
PYBABEL := .venv/bin/pybabel
LOCALES := app/locales

messages: install ## extract message ids into app/locales/messages.pot, merge them into each catalogue
	$(PYBABEL) extract -F babel.cfg --add-comments=Translators: --sort-output --no-location --no-wrap \
		--project=partner-leads --copyright-holder=partner-leads -o $(LOCALES)/messages.pot app
	$(PYBABEL) update -i $(LOCALES)/messages.pot -d $(LOCALES) --no-wrap --ignore-obsolete --ignore-pot-creation-date

locale: install ## start a catalogue for LOCALE (e.g. LOCALE=es), then translate it
	@test -n "$(LOCALE)" || { echo "usage: make locale LOCALE=es"; exit 2; }
	$(PYBABEL) init -i $(LOCALES)/messages.pot -d $(LOCALES) -l $(LOCALE) --no-wrap

BENCH_SCALE ?= small

# partner-leads against PostGraphile v5 and a raw Starlette+asyncpg ceiling on one bench world,
# in interleaved rounds; appends to bench/RESULTS.md and ends with a `ratios:` line. Builds the
# world once (.data/bench), installs wrk (apt, as root) and Node 22 + PostGraphile (npm, into
# bench/.peers/) when missing. Settings: see bench/run.py.
bench: install ## the peers in one run on the bench world (BENCH_SCALE=small|full)
	BENCH_SCALE=$(BENCH_SCALE) .venv/bin/python -m bench.run

bench-full: install ## make bench on 5,000 partners and 3,000,000 leads
	BENCH_SCALE=full .venv/bin/python -m bench.run

soak: install ## 10 minutes at 80 % of the measured maximum, mixed reads and writes (SOAK_MINUTES)
	.venv/bin/python -m bench.soak

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
