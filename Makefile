# One quality gate, the same locally and in CI (.ci/run): `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: venv plan test lint bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## venv: the program's environment only (what `pulumi up` and `python -m ops` need; pipelines use it)
venv: $(VENV)/.runtime

## plan: print the offline plan of a stack (STACK=dev by default), no cloud credentials needed
plan: $(VENV)/.runtime
	$(PY) -m offline_plan --stack $(STACK)

## test: lint (ruff) and the whole test suite
test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

## bench: the benchmarks, each printing its figures
bench: $(VENV)/.dev
	$(PY) benchmarks/plan_time.py
	$(PY) benchmarks/pat_requests.py
	$(PY) benchmarks/jobs_scale.py
	$(PY) benchmarks/factory_scale.py

clean:
	rm -rf $(VENV)
