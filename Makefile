# relic-rebirth: `make up` runs the platform, `make test` runs the tests.
SHELL := /bin/bash
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := libs/contracts libs/servicekit services/catalog services/orders services/ip services/analytics

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "error: Python 3.11+ is needed (found $$($(PYTHON) --version 2>&1)): install python3.11 or set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $(STAMP)

# the dashboard's scripts from the npm registry, bundled at build time: Apache
# ECharts (charts) and oidc-client-ts (sign-in); one run of the script makes both
WEB_STATIC := services/analytics/src/analytics/static
WEB_BUNDLES := $(WEB_STATIC)/echarts.min.js $(WEB_STATIC)/oidc-client-ts.min.js
$(WEB_BUNDLES) &: services/analytics/web/package-lock.json
	services/analytics/scripts/build_static.sh --force

install: $(STAMP) $(WEB_BUNDLES) ## create .venv with every package installed editable

KUSTOMIZE := .local/bin/kustomize
$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "error: go is missing: install Go 1.24+ (https://go.dev/doc/install)"; exit 1; }
	GOBIN=$(CURDIR)/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1

DEBIAN_TOOLS := docker-compose chromium fonts-wqy-microhei
tools: $(KUSTOMIZE) ## test tools: docker-compose, chromium + a CJK font (Debian), kustomize (Go)
	@missing=""; for p in $(DEBIAN_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (Debian)"; \
	    (apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq $$missing >/dev/null)); \
	  else echo "error: missing$$missing: sudo apt-get install$$missing"; exit 1; fi; fi

up: install ## run the platform (docker compose, or the local stack + Keycloak + services)
	@if docker info >/dev/null 2>&1; then docker compose up -d --build --wait; \
	else $(PY) deploy/local/devplatform.py up; fi

down: ## stop the platform
	@if docker info >/dev/null 2>&1; then docker compose down; \
	else $(PY) deploy/local/devplatform.py down; fi

status: ## what is running
	@if docker info >/dev/null 2>&1; then docker compose ps; \
	else $(PY) deploy/local/devplatform.py status; fi

logs: ## follow the services' logs
	@if docker info >/dev/null 2>&1; then docker compose logs -f; \
	else tail -n 100 -F .local/logs/*.log; fi

test: install tools ## lint, then every test against real Kafka and FerretDB (started for the run)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest --ignore=tests/reliability

test-reliability: install tools ## the fault scenarios of tests/reliability (outages, kill -9, races, poison, rebalance)
	$(PY) -m pytest tests/reliability

lint: install ## ruff and mypy (strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/servicekit/src libs/contracts/src

asyncapi: install ## regenerate docs/asyncapi.yaml from the contracts
	$(VENV)/bin/rebirth-asyncapi

seed: install ## load the demo dataset through the public APIs (after make up; idempotent)
	$(PY) deploy/demo/seed.py

DEMO_USERS ?= 20
DEMO_DURATION ?= 60
DEMO_SEED ?= 20250125
HISTORY_ORDERS ?= 100000
history: install ## grow the running platform's stores with a year of past orders, in bulk (HISTORY_ORDERS=100000)
	$(PY) bench/history.py --orders $(HISTORY_ORDERS)

DEMO_HISTORY ?= 3000
demo: seed ## seed, a year of past orders, then a simulated day of tourists (Locust); prints the dashboard URL, tokens, curls and how to sign in
	$(PY) bench/history.py --orders $(DEMO_HISTORY) --if-empty
	$(PY) deploy/demo/simulate.py --users $(DEMO_USERS) --duration $(DEMO_DURATION) --seed $(DEMO_SEED)

USERS ?= 50
DURATION ?= 60s
load: install ## Locust tourists against a running platform, headless (USERS=50 DURATION=60s)
	$(VENV)/bin/locust -f loadgen/locustfile.py --headless -u $(USERS) -r $(USERS) -t $(DURATION) --only-summary

bench: install ## benchmarks, each next to its baseline (BENCH_QUICK=1 small; docs/benchmarks.md)
	$(PY) bench/run.py

clean: down ## stop everything and delete local data and caches
	rm -rf .local $(VENV)

.PHONY: help install tools up down status logs test test-reliability lint asyncapi seed history demo load bench clean
