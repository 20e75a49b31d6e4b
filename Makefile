# The two commands a new user needs:
#   make demo   create .venv, run suites/demo.yaml (the trained mini zoo), write its report, print where it is
#   make test   create .venv with the dev extras if needed, run the test suite
#   (make test-fast runs the tests not marked slow: the loop while editing)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HARNESS := $(VENV)/bin/harness
PIP := $(PY) -m pip install --disable-pip-version-check
DEMO_SUITE ?= suites/demo.yaml

.PHONY: demo test test-fast lint clean-venv gpu-check

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Re-installed whenever pyproject.toml changes.
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) -q -e ".[metrics]"
	touch $@

# vbench's own pins (transformers==4.33.2, numpy<2) would replace the project's: its code comes without them
# (what its scoring imports is in the vbench extra).
VBENCH ?= vbench==0.1.5
# face_recognition's API is the reference of the dlib verifier's parity test; it requires "dlib" (a source
# build), which dlib-bin (the biometric extra) already provides.
FACE_RECOGNITION ?= face_recognition==1.3.0

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) -q -e ".[dev]"
	$(PIP) -q --no-deps "$(VBENCH)"
	$(PIP) -q --no-deps "$(FACE_RECOGNITION)"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	@log=$$(mktemp); \
	$(HARNESS) run $(DEMO_SUITE) --out results | tee $$log; \
	run=$$(tail -n 1 $$log); rm -f $$log; \
	$(HARNESS) report $$run; \
	echo; echo "report: $$run/report.md"

# The dogfood gate first (a fresh smoke run against this machine's baseline in results/baselines/smoke;
# skipped with a note on a machine unlike any baseline's), then the test suite.
test: $(VENV)/.installed-dev
	$(MAKE) --no-print-directory gate GATE_FLAGS=--skip-on-mismatch
	$(PY) -m pytest -q

# The loop while editing: the tests not marked `slow` (about 1.5 minutes on an idle 2-core machine, 3 beside
# other work; no gate run). `make test` runs them all, as CI does.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m "not slow"

# Lint, format and layering: ruff, and no import cycle in the package (the shared tool counts imports inside
# functions too).
IMPORT_CYCLES ?= ../shared/tools/import_cycles.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check harness tests
	$(VENV)/bin/ruff format --check harness tests
	@if [ -f $(IMPORT_CYCLES) ]; then $(PY) $(IMPORT_CYCLES) harness; \
	else echo "note: $(IMPORT_CYCLES) not found here: the import-cycle check did not run"; fi

clean-venv:
	rm -rf $(VENV)

# CI regression gate: a fresh CPU run of GATE_SUITE compared, under the suite's `gates:`, with the committed
# baseline for this kind of machine (GATE_BASELINE holds one folder per CPU model, torch and thread count).
# Exit 1 on a regression; 2 when none matches (another CPU, torch, threads...): then record one for this
# machine with `make gate-baseline` (it replaces only this machine's). GATE_FLAGS adds flags (e.g. --allow-mismatch).
# The Markdown table and JUnit XML land in the fresh run folder (gate.md, gate-junit.xml).
GATE_SUITE ?= suites/smoke.yaml
GATE_BASELINE ?= results/baselines/smoke
GATE_FLAGS ?=

.PHONY: gate gate-baseline

gate: $(VENV)/.installed-demo
	@log=$$(mktemp); \
	$(HARNESS) run $(GATE_SUITE) --out results --device cpu | tee $$log || true; \
	run=$$(tail -n 1 $$log); rm -f $$log; \
	$(HARNESS) compare $(GATE_BASELINE) $$run --gate $(GATE_SUITE) \
		--markdown $$run/gate.md --junit $$run/gate-junit.xml $(GATE_FLAGS)

gate-baseline: $(VENV)/.installed-demo
	@log=$$(mktemp); \
	$(HARNESS) run $(GATE_SUITE) --out results --device cpu | tee $$log; \
	run=$$(tail -n 1 $$log); rm -f $$log; \
	$(HARNESS) gate record $$run --into $(GATE_BASELINE)

# One Markdown table of what the harness measures on a GPU (doctor, the smoke suite on cuda, sd15-arch 512²
# fp16 20 steps under eager / compile / ONNX Runtime CUDA, harness vs raw CUDA-event timing, allocator vs NVML
# peaks, energy per image), in at most 8 minutes on one H100/H200 with nothing downloaded. GPU_PY runs it with
# another interpreter that has the project's dependencies (e.g. a machine's own python3).
GPU_PY ?= $(PY)
GPU_CHECK_OUT ?= results/gpu-check.md

gpu-check:
	@if [ "$(GPU_PY)" = "$(PY)" ]; then $(MAKE) --no-print-directory $(VENV)/.installed-dev; fi
	$(GPU_PY) -m harness.cli.gpucheck --device cuda --out $(GPU_CHECK_OUT)
