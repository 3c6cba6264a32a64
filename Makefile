# The README's two commands, each doing its own set-up in a virtual environment:
#   make demo   trains the flagship translation example on its embedded default data
#   make test   runs the test suite (what CI runs, through .ci/run)
PYTHON ?= python3
VENV ?= .venv
# The CPU build on these machines; on a GPU machine pick the build for its CUDA version.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install clean

demo: $(INSTALLED)
	$(BIN)/python examples/translation.py

test: $(INSTALLED)
	$(BIN)/python -m pytest tests -q

install: $(INSTALLED)

# torch first, pinned: left to the resolver, a bare `torch` requirement pulls a multi-GB CUDA build.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
