# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
OUT     ?= atlas
PROFILE ?= quick

.PHONY: run test test-all lint bench clean venv

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q torch==2.13.0
	$(VPY) -m pip install -q -e '.[test,ray]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/deepgeometry atlas --profile $(PROFILE) --out $(OUT) --jobs 2

test: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m pytest -q

test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m pytest -q -m ''

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(VPY) -m pip install -q -e '.[bench]'
	for b in benchmarks/bench_*.py; do OMP_NUM_THREADS=1 $(VPY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build src/*.egg-info
