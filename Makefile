# Two commands for a newcomer: `make up` (install + run the bot) and `make test` (install + run the tests).
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch that CI uses; GPU hosts can pass TORCH="torch==2.13.0 --index-url <their CUDA index>".
TORCH ?= torch==2.13.0
PIP = $(VENV)/bin/python -m pip

.PHONY: up test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

up: $(VENV)/.installed
	$(VENV)/bin/viper up

# Lint (ruff), the layers (import-linter, contracts in pyproject.toml), then every test.
test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
