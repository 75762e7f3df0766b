# The few commands a person types. Each one installs what it lacks first (scripts/bootstrap.sh).
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bench bench-tiles lint lock bootstrap clean-db bench-dispatch bench-routing bench-console bench-ingest bench-simulation frontend

bootstrap:
	@bash scripts/bootstrap.sh

## Build the operator console (frontend/dist), unless it is newer than every source file
FRONTEND_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/index.html \
	frontend/vite.config.ts frontend/tsconfig.json frontend/package-lock.json
frontend: bootstrap frontend/dist/index.html
frontend/dist/index.html: $(FRONTEND_SOURCES)
	npm --prefix frontend run build --silent
	@touch $@

## Start the embedded database and MQTT broker, import the default territory if empty, serve on http://127.0.0.1:8000 with the demo sensors simulated live
demo: bootstrap frontend
	$(BIN)/hyperviseur demo

## Run the whole test suite on a throwaway database
test: bootstrap frontend
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks side by side with peers
bench: bootstrap
	$(BIN)/python -m benchmarks

## Vector tiles side by side with TiPG (uncached, cached throughput, edit-to-fresh-tile)
bench-tiles: bootstrap
	$(BIN)/python -m benchmarks.bench_tiles

## Routing side by side with pgRouting (routes, isochrones, matrices, closure latency) on Monaco, Montpellier, a 1M-arc grid
# Routes, isochrones, matrices and closures against pgRouting, then crew dispatch against the other VRP solvers.
bench-routing: bootstrap
	$(BIN)/python -m benchmarks.bench_routing
	$(BIN)/python -m benchmarks.bench_dispatch

## Crew dispatch: PyVRP, OR-Tools and VROOM on Solomon's 56 VRPTW instances at equal time budgets
bench-dispatch: bootstrap
	$(BIN)/python -m benchmarks.bench_dispatch

## Live sensing: MQTT → committed rows vs raw COPY, MQTT-to-row p99 at 5,000 msg/s, breach → WebSocket, fan-out, memory
# BENCH_INGEST_LONG=1 makes the memory run last an hour instead of 3 minutes.
bench-ingest: bootstrap
	$(BIN)/python -m benchmarks.bench_ingest

## Consequence simulation: report latency vs networkx (Monaco, Montpellier), wntr runs, leak localisation, 2019 SCADA
bench-simulation: bootstrap
	$(BIN)/python -m benchmarks.bench_simulation

## Console benchmark: first rendered map on Montpellier's street lights, frames per second in 3D
bench-console: bootstrap frontend
	$(BIN)/python -m benchmarks.bench_console

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy twin layers tiles routing sensing detection incidents live simulation benchmarks
	$(BIN)/lint-imports

## Re-resolve the locked dependencies from pyproject.toml
lock: bootstrap
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --extra bench pyproject.toml -o requirements.lock

clean-db:
	-$(BIN)/hyperviseur db stop
	rm -rf var/pg
