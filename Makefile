# The README's two commands, each doing its own set-up in a virtual environment:
#   make demo   trains the flagship translation example on its embedded default data
#   make test   runs the test suite against the newest releases of every dependency (what users install)
# and, while working on the code:
#   make test-fast   the same suite without the tests marked slow (those that train a model for a while)
# and what CI adds (.ci/run):
#   make lint          ruff: the linter and the formatter's check (pyproject.toml's [tool.ruff])
#   make test-lowest   the same suite against the lowest releases pyproject.toml declares, torch included
PYTHON ?= python3
VENV ?= .venv
LOWEST_VENV ?= .venv-lowest
# The CPU build on these machines; on a GPU machine pick the build for its CUDA version.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
LOWEST_INSTALLED := $(LOWEST_VENV)/.installed

.PHONY: demo test test-fast test-lowest lint format install clean

demo: $(INSTALLED)
	$(BIN)/python examples/translation.py

test: $(INSTALLED)
	$(BIN)/python -m pytest tests -q

test-fast: $(INSTALLED)
	$(BIN)/python -m pytest tests -q -m "not slow"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-lowest: $(LOWEST_INSTALLED)
	@echo "Installed at the floors of $(LOWEST_VENV)/constraints.txt:"
	@$(LOWEST_VENV)/bin/python -m pip list --format=freeze 2>/dev/null \
		| grep -iE "^($$(cut -d= -f1 $(LOWEST_VENV)/constraints.txt | paste -sd'|' -))=="
	$(LOWEST_VENV)/bin/python -m pytest tests -q

install: $(INSTALLED)

# torch first, pinned, and pinned again while everything else upgrades: left to the resolver (or to an eager
# upgrade), a `torch` requirement pulls a newer multi-GB CUDA build.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test,dev]" "$(TORCH)"
	touch $@

# The package with every dependency at the lower bound pyproject.toml declares (their own dependencies resolve to the
# newest releases that fit, as for a user who pinned ours). torch too, so TORCH does not apply here: its floor comes
# from PyPI, a CUDA build (about 3 GB with its NVIDIA libraries) that runs on a CPU.
$(LOWEST_INSTALLED): pyproject.toml .ci/lowest_constraints.py
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python .ci/lowest_constraints.py > $(LOWEST_VENV)/constraints.txt
	$(LOWEST_VENV)/bin/python -m pip install --quiet --constraint $(LOWEST_VENV)/constraints.txt -e ".[test]"
	touch $@

clean:
	rm -rf $(VENV) $(LOWEST_VENV) build *.egg-info
