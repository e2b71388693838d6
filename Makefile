# One quality gate, the same locally and in CI (.ci/run): `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: venv plan test lint bench clean constraints

# The ranges of requirements*.txt, at the exact versions of constraints.txt: every venv (yours, CI's, the
# release's) gets the SDKs the tests ran against.
$(VENV)/.runtime: requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
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

## constraints: pick new exact versions inside the ranges (a fresh install of requirements*.txt), then run make test
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	{ sed -n '/^#/p' constraints.txt; .venv-constraints/bin/python -m pip freeze --disable-pip-version-check; } \
		> constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV)
