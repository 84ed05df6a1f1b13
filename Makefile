# One place for the commands a developer and CI run. See docs/DEVELOPMENT.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
PG_URL = $(shell scripts/pg up)

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: web ## Run the whole local platform: Kubernetes + real node + samples + operator + server (dev mode, SQLite, http://127.0.0.1:8080)
	$(CARGO) build --release -p eventflow
	scripts/run-platform

run-k8s: web ## Like run, but fail instead of falling back to API-only when the local node cannot run
	$(CARGO) build --release -p eventflow
	EVENTFLOW_RUN_MODE=platform scripts/run-platform

web: web/node_modules ## Build the dashboard into web/dist
	cd web && npm run build

web/node_modules: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch web/node_modules

deps: ## Install the Debian packages the tests need (postgresql, chromium, prometheus, python3-venv, curl, jq, openssl, kubectl, the node's parts)
	scripts/install-deps

services: deps ## Start PostgreSQL, the testenv Kubernetes control plane and node, and push the sample images (idempotent)
	scripts/pg up
	testenv/up
	if curl -fs --max-time 2 http://127.0.0.1:26450/v2/ >/dev/null; then examples/functions/build; \
	else echo "testenv runs without its real node: no registry for the sample images" >&2; fi

images: ## Build the sample function images and push them to testenv's registry (needs testenv/up)
	examples/functions/build

services-down: ## Stop PostgreSQL and testenv
	scripts/pg down
	testenv/down

lint: web/node_modules ## Formatting and lints: rustfmt, clippy, eslint, prettier
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd web && npm run lint

crds: ## Regenerate deploy/crds and docs/openapi.json from the code
	$(CARGO) run -q -p eventflow -- crds > deploy/crds/eventflow.io.yaml
	$(CARGO) run -q -p eventflow -- openapi > docs/openapi.json

test: services lint ## Run every test suite (starts PostgreSQL and testenv first)
	EVENTFLOW_TEST_DATABASE_URL="$(PG_URL)" $(CARGO) test --workspace
	scripts/fuzz-api
	cd testenv && go test -count=1 ./acceptance/...
	cd web && npm test
	$(MAKE) web
	cd web && EVENTFLOW_BIN=../target/debug/eventflow npm run e2e

.PHONY: help run run-k8s deps web services services-down images lint crds test

KUBECTL ?= kubectl
IMAGE ?= ghcr.io/eventflow/eventflow:0.1.0

image: ## Build the container image (server + operator + dashboard) with docker
	docker build -f deploy/docker/Dockerfile -t $(IMAGE) .

deploy: ## Apply the CRDs and deploy/k8s to the current kubectl context (docs/DEPLOYMENT.md)
	$(KUBECTL) apply --server-side -f deploy/crds/eventflow.io.yaml
	$(KUBECTL) wait --for=condition=Established --timeout=60s crd/tenants.eventflow.io crd/functions.eventflow.io
	$(KUBECTL) apply -f deploy/k8s/00-namespace.yaml
	$(KUBECTL) apply -f deploy/k8s/
	$(KUBECTL) -n eventflow-system rollout status deploy/eventflow-operator --timeout=180s

.PHONY: image deploy
