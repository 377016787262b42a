# OpsKnight: two commands do everything (see README.md).
#   make run   start web + worker with demo data (embedded PostgreSQL unless DATABASE_URL is set)
#   make test  lint, migrations check, layer contract, full test suite
PYTHON ?= python3.11
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PYTHONUNBUFFERED := 1

.PHONY: run test lint fmt check-migrations layers pytest install clean

run: install
	$(BIN)/python manage.py runall

test: install lint check-migrations layers pytest

install: $(VENV)/.installed

# The venv is rebuilt only when the lock file or pyproject changes.
$(VENV)/.installed: uv.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; OpsKnight needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --locked --quiet
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

layers: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
