# retail-mlops: `make run` runs the main job, `make test` runs the tests. Both bootstrap themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Project-local ZenML state (gitignored); export it in your shell to use the zenml CLI directly.
export ZENML_CONFIG_PATH ?= $(CURDIR)/.state/zenml
export BENTOML_HOME ?= $(CURDIR)/.state/bentoml
export ZENML_ANALYTICS_OPT_IN ?= false
export GIT_PYTHON_REFRESH ?= quiet
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

help:  ## Show targets
	@grep -E '^[a-z-]+:.*##' Makefile | awk -F':.*## ' '{printf "%-14s %s\n", $$1, $$2}'

uv:  ## Install uv with pip if it is missing
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet "uv>=0.5" \
		|| $(PYTHON) -m pip install --quiet --break-system-packages "uv>=0.5"

sync: uv  ## Install the locked environment (uv sync --frozen)
	$(UV) sync --frozen

setup: sync  ## sync + register the local ZenML stack (idempotent) + fetch the data
	$(UV) run python run.py stack register local
	$(UV) run python -c "from retail_mlops.ingest.dataset import fetch_online_retail as f; print('data:', f())"

run: setup  ## The main job on the full data: features, churn, demand, then the local services
	$(UV) run python run.py main

run-dev: setup  ## The main job on the committed subset (a minute or two)
	$(UV) run python run.py main --dev

test: setup  ## All tests (every tier that this machine can run); isolated from your ZenML and MLflow state
	$(UV) run pytest

test-unit: sync  ## Unit tests only
	$(UV) run pytest tests/unit

test-kubeflow: sync  ## Kubeflow tiers: compile (~1 min) and containers (podman; ~9 min the first time)
	$(UV) run pytest -m "kubeflow_compile or kubeflow_container"

kubeflow: setup  ## Register the kubeflow stack and run the pipelines on a real cluster (see README)
	$(UV) run python -m scripts.run_on_kubeflow

lint: sync  ## ruff + mypy
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

bench: setup  ## Benchmarks (print medians and ratios; last line JSON)
	$(UV) run python -m bench.pipeline_overhead
	$(UV) run python -m bench.features
	$(UV) run python -m bench.warehouse

REDIS_PORT ?= 6379
servers: sync  ## Start the local-servers stack's mlflow server and Redis on loopback (stop: make servers-stop)
	$(UV) run python -m scripts.servers start

servers-stop: sync  ## Stop the servers `make servers` started (by PID)
	$(UV) run python -m scripts.servers stop

redis:  ## Start a loopback redis-server for the local-servers stack (PID in .state/redis.pid)
	@mkdir -p .state
	redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
		--pidfile $(CURDIR)/.state/redis.pid
	@echo "export FEAST_REDIS_CONNECTION=127.0.0.1:$(REDIS_PORT)"

redis-stop:  ## Stop the redis-server started by `make redis`
	@test -f .state/redis.pid && kill $$(cat .state/redis.pid) && rm -f .state/redis.pid || true

wrk:  ## Install the wrk load generator if missing (Debian; bench-serving needs it)
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }

bench-serving: setup wrk  ## Churn service vs mlflow serve vs bare FastAPI under wrk (JSON last)
	$(UV) run python -m bench.serving

bench-soak: setup wrk  ## Churn service for 10 minutes at half its capacity: RSS growth, p99 drift (JSON last)
	$(UV) run python -m bench.soak

bench-forecasting: setup  ## Forecasting at scale: Prophet stage, global XGBoost, top-200 accuracy (JSON last)
	$(UV) run python -m bench.forecasting

undeploy:  ## Stop the local services started by `make run` / `run.py deployment`
	$(UV) run python run.py undeploy

clean-state:  ## Stop the services, delete local state (ZenML, MLflow, Bentos, data cache)
	-@test -d .venv && $(UV) run python run.py undeploy
	rm -rf .state

.PHONY: help uv sync setup run run-dev test test-unit test-kubeflow kubeflow lint bench bench-serving bench-soak bench-forecasting wrk servers servers-stop redis redis-stop undeploy clean-state
