# The two commands of a fresh machine (Python 3.10+):
#   make bench   a virtualenv (created once, then reused), PyTorch, the package; then the embedded default model on
#                the Polish suite: the table of scores, and where the leaderboard is
#   make test    the same virtualenv plus the test extra; then the fast test tier
# Others: make test-all (what CI runs: .ci/run), make lint, make help.
#
# Data: the Hugging Face Hub copies when the Hub answers (or the Hugging Face cache holds them); otherwise the
# original files: BENCH_DATA_ROOT=DIR make bench, or make bench ARGS="data.root=DIR". When neither works, the run
# stops with one line saying what to set. ARGS: any other settings, e.g. make bench ARGS="model=herbert pooling=mean".
# PyTorch: without a GPU (no nvidia-smi) the CPU wheel $(TORCH) first (any other spec pulls gigabytes of CUDA wheels),
# as CI installs it; with one, the default build that pip picks for the package's torch requirement.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.bench-installed
TEST_STAMP := $(VENV)/.bench-test-installed
# What the tests and CI set: the Hub is never asked (tests use offline replicas), no tokenizer thread warnings.
TEST_ENV := HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.DEFAULT_GOAL := help
.PHONY: help bench test test-all lint venv

help:
	@echo "make bench     set up .venv (once) and run the embedded default model on the Polish suite"
	@echo "               (ARGS=\"...\": more settings; BENCH_DATA_ROOT=DIR: the original data files)"
	@echo "make test      set up .venv with the test extra and run the fast test tier (PYTEST_ARGS=\"...\")"
	@echo "make test-all  what CI runs (.ci/run): lint, every tier, browser, SLURM cluster, wheel check"
	@echo "make lint      ruff check bench tests benchmarks"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.10 or newer is needed (PYTHON=python3.x make ...)" if sys.version_info < (3, 10) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# PyTorch before the package, so that its requirement is met by the wheel chosen here.
$(VENV)/.torch-installed: | $(BIN)/python
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	  echo "PyTorch $$($(BIN)/python -c 'import torch; print(torch.__version__)') already in $(VENV)"; \
	elif command -v nvidia-smi >/dev/null 2>&1; then \
	  echo "GPU found (nvidia-smi): pip's default PyTorch build"; $(BIN)/python -m pip install --quiet torch; \
	else \
	  echo "no GPU (no nvidia-smi): the CPU wheel $(TORCH)"; $(BIN)/python -m pip install --quiet "$(TORCH)"; \
	fi
	@touch $@

$(STAMP): pyproject.toml $(VENV)/.torch-installed
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(VENV)/.torch-installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(STAMP)

venv: $(STAMP)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

test: $(TEST_STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all:
	bash .ci/run

lint: $(TEST_STAMP)
	$(BIN)/ruff check bench tests benchmarks
