# Secure MCP Gateway — common tasks. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := up

CARGO       ?= cargo
PYTHON      ?= python3
VENV        := .venv
HOST        ?= 127.0.0.1
PORT        ?= 8000
DEMO_HTTP   ?= 127.0.0.1:8101
# Docker Compose v2 (`docker compose`); COMPOSE=docker-compose for the older standalone one.
COMPOSE     ?= docker compose
# What `make test-auth` talks to (the stack's published ports by default).
GATEWAY_URL  ?= http://localhost:8000
KEYCLOAK_URL ?= http://localhost:8080

.PHONY: help up up-observability test-auth keycloak-setup logs ps down clean run test test-deps screenshots build release bench bench-instructions fmt lint check-config clean-local

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

up: ## The full stack with Docker: Postgres, Keycloak, 5 mock servers, the gateway; then make test-auth
	@scripts/stack.sh up
	@$(MAKE) --no-print-directory test-auth

up-observability: ## The full stack plus Prometheus, Grafana and Jaeger (compose profile observability)
	@scripts/stack.sh up --profile observability
	@$(MAKE) --no-print-directory test-auth

test-auth: ## Check tokens, 401, whoami, per-role tools, a call, a broadcast and a denial against the stack
	@GATEWAY_URL=$(GATEWAY_URL) KEYCLOAK_URL=$(KEYCLOAK_URL) scripts/test-auth.sh

keycloak-setup: ## Re-apply examples/keycloak/mcp-gateway-realm.json to the running Keycloak (idempotent)
	@KEYCLOAK_URL=$(KEYCLOAK_URL) $(PYTHON) scripts/keycloak-setup.py

logs: ## Follow the stack's logs
	$(COMPOSE) --profile observability logs -f

ps: ## The stack's containers and their health
	$(COMPOSE) --profile observability ps

down: ## Stop the stack (volumes stay)
	$(COMPOSE) --profile observability down

clean: ## Stop the stack and delete its volumes (Postgres, Grafana, Prometheus data)
	$(COMPOSE) --profile observability down --volumes --remove-orphans

build: ## Build every crate (debug)
	$(CARGO) build --workspace

release: ## Build every crate (release)
	$(CARGO) build --workspace --release

run: build ## Start the gateway on 127.0.0.1:8000 with demo backends (no Docker, no auth)
	@scripts/run-demo.sh

test-deps: ## Install the real MCP clients and servers the tests use (.venv, testdeps/node_modules)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r testdeps/requirements.txt
	@cd testdeps && npm ci --no-audit --no-fund --loglevel=error

test: test-deps ## Run every test (unit, integration, interop, the console in a browser), the integration tests twice
	node --test frontend/tests/*.test.mjs
	$(CARGO) build --workspace --all-targets
	$(CARGO) nextest run --workspace --no-fail-fast
	@# Again with every backend call through rmcp's client, so that the fallback is never dead code.
	GATEWAY_UPSTREAM_CLIENT=rmcp $(CARGO) nextest run -p mcp-gateway --test it --no-fail-fast

screenshots: test-deps ## Screenshots of the console's pages, from the browser tests, into docs/ui/
	CONSOLE_SCREENSHOTS=docs/ui $(CARGO) nextest run -p mcp-gateway --test it console::

bench: ## Benchmark the gateway against direct calls to the same backend
	$(CARGO) build --release --workspace
	@scripts/bench.sh
	@scripts/bench-fanout.sh
	@scripts/bench-llm.sh

bench-instructions: ## Count the gateway's instructions per call (valgrind; for comparing builds)
	$(CARGO) build --release --workspace
	@scripts/bench-instructions.sh

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Formatting and clippy, as CI checks them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check-config: build ## Validate examples/mcp_servers.yaml
	$(CARGO) run -q -p mcp-gateway -- check-config examples/mcp_servers.yaml
