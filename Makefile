# The few commands a person types. Each one installs what it lacks first (scripts/bootstrap.sh).
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bench lint lock bootstrap clean-db

bootstrap:
	@bash scripts/bootstrap.sh

## Start the embedded database, import the default territory if empty, serve on http://127.0.0.1:8000
demo: bootstrap
	$(BIN)/hyperviseur demo

## Run the whole test suite on a throwaway database
test: bootstrap
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks side by side with peers
bench: bootstrap
	$(BIN)/python -m benchmarks

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy twin layers benchmarks
	$(BIN)/lint-imports

## Re-resolve the locked dependencies from pyproject.toml
lock: bootstrap
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --extra bench pyproject.toml -o requirements.lock

clean-db:
	-$(BIN)/hyperviseur db stop
	rm -rf var/pg
