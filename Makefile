# One entry point for humans and CI. `make test` bootstraps .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo merchant serve dev-gateway bench bench-smoke soak soak-smoke image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## The README's test command: lint, types, then the whole suite.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check proxy tests bench soak examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

## The README's run command: the whole Lava flow on loopback, no credentials needed; it ends with
## the local Lava's dashboard URL. DEMO_ARGS=--keep-running leaves the local Lava, the sidecar
## and the merchant example (examples/merchant) up.
demo: $(STAMP)
	$(BIN)/lava-sidecar demo $(DEMO_ARGS)

## The merchant example alone (README "Checkout"): its own local Lava and sidecar, its page built
## with esbuild from the committed lockfile (npm) on first run.
merchant: $(STAMP)
	$(BIN)/python -m examples.merchant

serve: $(STAMP)
	$(BIN)/lava-sidecar serve

dev-gateway: $(STAMP)
	$(BIN)/lava-sidecar dev-gateway

## Benchmark: direct, nginx, lava-sidecar (lean and aiohttp clients; lean with tracing on:
## sidecar-traced) against one fake upstream,
## interleaved, ~10 min; results in bench-results/. BENCH_ARGS=--with-litellm adds LiteLLM (installs it).
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run --out bench-results $(BENCH_ARGS)

## A few hundred requests: proves the harness works (CI); asserts no speed.
bench-smoke: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run --smoke --out bench-results/smoke

## Soak: 50,000 mixed requests (after 5,000 warm-up) with faults and departing clients at a steady
## rate, through a real sidecar process; the usage log, /usage and /metrics must each equal, per
## customer, what the gateway served; fds, RSS and pending tasks must not grow. ~2-3 min.
## SOAK_ARGS="--client aiohttp" runs it on the other outbound client.
soak: $(STAMP)
	$(BIN)/python -m soak --out soak-results $(SOAK_ARGS)

## The same at 2,000 requests (CI).
soak-smoke: $(STAMP)
	$(BIN)/python -m soak --smoke --out soak-results/smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
