# Greenlight: `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch, installed before the package so nothing pulls a CUDA build
# (gigabytes); setuptools stays below 82, which dropped the pkg_resources some
# model packages still import.
TORCH := torch==2.13.0
# Debian packages the platform and its tests use.
APT_PACKAGES := postgresql espeak-ng apertium apertium-eng-spa apertium-fr-es apertium-es-pt apertium-en-ca

.PHONY: demo test test-fast lint bench system-deps clean

system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check '$(TORCH)' 'setuptools<82'
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	# Only the speaker encoder's weights are used (likeness/voice.py); its own
	# dependencies (librosa, numba, a compiled webrtcvad) are not.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'resemblyzer==0.1.4'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: system-deps $(STAMP) lint
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

demo: system-deps $(STAMP)
	$(BIN)/greenlight demo

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
