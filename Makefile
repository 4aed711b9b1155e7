# Two commands set up everything on a fresh machine: `make test` and `make book`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHAPTER ?= nested-gradient-codes
LAB_OPTIONS ?=

.PHONY: help install lint format test test-fast bench book chapter lab clean

help:
	@echo "make test      create .venv, install, lint, run the whole test suite"
	@echo "make book      create .venv, install, execute every chapter, build the HTML"
	@echo "make chapter CHAPTER=slug   execute one chapter alone (book/<slug>.md)"
	@echo "make lab       JupyterLab on book/: open a chapter with Open With > Jupytext Notebook"
	@echo "make bench     run the benchmarks and print ratios against in-run baselines"
	@echo "make lint      ruff check and ruff format --check"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,book,dask]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check gclib tests benchmarks book/_ext book/_tools
	$(BIN)/ruff format --check gclib tests benchmarks book/_ext book/_tools

format: $(STAMP)
	$(BIN)/ruff format gclib tests benchmarks book/_ext book/_tools
	$(BIN)/ruff check --fix gclib tests benchmarks book/_ext book/_tools

test: lint
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

test-fast: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m benchmarks

# Every chapter is executed afresh (--all, execution mode force); a failing cell, output on
# stderr and every Sphinx warning fail the build. Figures need the inline backend in the kernel.
book: $(STAMP)
	MPLBACKEND=module://matplotlib_inline.backend_inline $(BIN)/jupyter-book build book --all \
		--warningiserror --nitpick --keep-going
	@echo "$(CURDIR)/book/_build/html/index.html"

chapter: $(STAMP)
	$(BIN)/python book/_tools/run_chapter.py $(CHAPTER)

# JupyterLab is an extra of its own, installed on first use; jupytext opens the MyST chapters.
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,book,dask,lab]'
	MPLBACKEND=module://matplotlib_inline.backend_inline $(BIN)/jupyter lab --notebook-dir=book $(LAB_OPTIONS)

clean:
	rm -rf book/_build .pytest_cache .ruff_cache
