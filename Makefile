# The two commands a new user needs:
#   make demo   create .venv, run suites/smoke.yaml, write its report, print where it is
#   make test   create .venv with the dev extras if needed, run the test suite
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HARNESS := $(VENV)/bin/harness
PIP := $(PY) -m pip install --disable-pip-version-check
DEMO_SUITE ?= suites/smoke.yaml

.PHONY: demo test lint clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Re-installed whenever pyproject.toml changes.
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) -q -e ".[metrics]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) -q -e ".[dev]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	@log=$$(mktemp); \
	$(HARNESS) run $(DEMO_SUITE) --out results | tee $$log; \
	run=$$(tail -n 1 $$log); rm -f $$log; \
	$(HARNESS) report $$run; \
	echo; echo "report: $$run/report.md"

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check harness tests
	$(VENV)/bin/ruff format --check harness tests

clean-venv:
	rm -rf $(VENV)
