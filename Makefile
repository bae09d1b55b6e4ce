# sitehub: every target does its own set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV            ?= .venv
PY              := $(VENV)/bin/python
BIN             := $(abspath $(VENV))/bin
# sslyze needs a cryptography release community.crypto cannot use (pyproject.toml); its venv
# sits inside the main one, which every linter already skips
SSLYZE_VENV     ?= $(VENV)/sslyze
export SITEHUB_SSLYZE := $(abspath $(SSLYZE_VENV))/bin/sslyze
export SITEHUB_CACHE   ?= /var/cache/sitehub
export CONTAINERS_CONF := $(abspath molecule/shared/containers.conf)
export ANSIBLE_CONFIG  := $(abspath ansible.cfg)
export PATH            := $(BIN):$(PATH)
# ansible-core's SSH agent code imports cryptography's deprecated DSA names: a warning no
# operator can act on (sitehub's own commands filter it too, src/sitehub/cli.py)
export PYTHONWARNINGS  := ignore:DSA is deprecated

# Scenarios `make test` runs, in order; each converges once and verifies. The hubs, frontend
# and kernels checks run as site suites against the converged demo instead (site-test).
# The other scenarios do not fit CI's 60 minutes next to the site: `make test-roles` runs them.
# `default` is also the Debian 12 scenario. The HTCondor pool runs live in the demo (site-htc);
# its role scenarios (htcondor_pool live, htcondor with a fixture repository for HTCondor's
# own apt source) are in test-roles for CI time.
MOLECULE_SCENARIOS ?= default
ROLE_SCENARIOS     ?= jupyterhub identity hubs frontend kernels htcondor htcondor_pool
# The default scenario also runs through Docker's API (served by podman) for role
# developers who have Docker instead of podman.
MOLECULE_DOCKER_SCENARIOS ?= default

# iptables: netavark sets up the test networks with it (only Suggested by Debian's package);
# tcpdump: the frontend suite captures health checks inside the hub containers' namespaces
APT_PACKAGES := podman runc crun netavark aardvark-dns iptables debootstrap uidmap slirp4netns fuse-overlayfs tcpdump \
                python3-venv git maven openjdk-17-jre-headless chromium

.PHONY: help
help:
	@echo "make demo       deploy the demo site on this machine and print its URL and login"
	@echo "make demo-down  remove the demo site"
	@echo "make test       lint + unit tests + molecule scenarios (what CI runs)"
	@echo "make quick      lint + unit tests only"
	@echo "make test-roles the role scenarios outside make test ($(ROLE_SCENARIOS))"
	@echo "make e2e        the demo site, then the end-to-end browser test against it"
	@echo "make site-test  converge the demo once, check idempotence, run the site suites on it"

# ---- set-up --------------------------------------------------------------
.PHONY: setup packages venv image
setup: packages venv image

# the stamp names the package list, so adding a package installs it on set-up machines too
APT_STAMP := $(SITEHUB_CACHE)/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-12)
packages: $(APT_STAMP)
$(APT_STAMP):
	mkdir -p $(SITEHUB_CACHE)
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES)
	touch $@

venv: $(VENV)/.done $(SSLYZE_VENV)/.done
$(VENV)/.done: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(SSLYZE_VENV)/.done: tests/tools/requirements-sslyze.txt
	python3 -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/python -m pip install -q -r $<
	touch $@

image: packages venv
	$(BIN)/sitehub image build

# ---- checks ----------------------------------------------------------------
.PHONY: lint unit quick test molecule molecule-docker
lint: venv
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check src tests filter_plugins action_plugins vars_plugins library module_utils bench roles/*/library molecule
	$(BIN)/ruff format --check src tests filter_plugins action_plugins vars_plugins library module_utils bench roles/*/library molecule
	$(BIN)/ansible-lint --profile production

unit: venv
	$(BIN)/pytest -q tests/unit

quick: lint unit

# Each scenario's output is kept in artifacts/molecule/; when one fails, its failed tasks are
# printed again at the end, where a CI log's tail shows them.
molecule: setup
	mkdir -p artifacts/molecule
	set -eo pipefail; for s in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $$s (podman)"; start=$$(date +%s); \
	  if ! $(BIN)/molecule test -s $$s 2>&1 | tee artifacts/molecule/$$s.log; then \
	    echo "=== molecule $$s FAILED after $$(( $$(date +%s) - start )) s; its failed tasks:"; \
	    grep -a -A25 -E 'fatal: |FAILED! =>|failed: \[' artifacts/molecule/$$s.log | tail -120; \
	    exit 1; fi; \
	  echo "=== molecule $$s passed in $$(( $$(date +%s) - start )) s"; done

molecule-docker: setup
	set -e; for s in $(MOLECULE_DOCKER_SCENARIOS); do \
	  echo "=== molecule test -s $$s (docker API)"; \
	  SITEHUB_MOLECULE_DRIVER=docker SITEHUB_MOLECULE_CONNECTION=community.docker.docker \
	  $(BIN)/sitehub docker-api -- $(BIN)/molecule test -s $$s; done

# molecule-docker (the default scenario through Docker's API) is left out for CI time.
# Each stage is timed; the table is printed at the end (a CI log's tail), failed or not.
TEST_STAGES = setup quick molecule $(SITE_STAGES)
STAGE_TIMES := artifacts/stage-times.tsv
test:
	@mkdir -p artifacts; printf 'stage\tseconds\tresult\n' > $(STAGE_TIMES)
	@status=0; for stage in $(TEST_STAGES); do \
	  start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$stage; then result=passed; else result=FAILED; status=1; fi; \
	  printf '%s\t%s\t%s\n' $$stage $$(( $$(date +%s) - start )) $$result >> $(STAGE_TIMES); \
	  [ $$status = 0 ] || break; done; \
	echo "=== make test stages ($(STAGE_TIMES))"; column -t -s "$$(printf '\t')" $(STAGE_TIMES); \
	awk -F'\t' 'NR > 1 {t += $$2} END {printf "total %d s (%.1f min)\n", t, t / 60}' $(STAGE_TIMES); \
	exit $$status

# The role scenarios outside `make test` (well over an hour on 2 cores), and the Docker-API run.
.PHONY: test-roles
test-roles: setup
	$(MAKE) molecule MOLECULE_SCENARIOS="$(ROLE_SCENARIOS)"
	$(MAKE) molecule-docker

# ---- the site suites: one converged demo site, several verify suites against it ------------
# Converge the demo once, converge again (must change nothing), a dry run (must announce no
# change), then the kernels, hubs, frontend and browser suites against the same hosts instead
# of a scenario of their own each.
SITE_ARTIFACTS := artifacts/site
SITE_STAGES := site-converge site-idempotence site-check site-configs site-audit site-kernels site-hubs site-htc site-frontend site-e2e
.PHONY: site-test $(SITE_STAGES)
site-test: $(SITE_STAGES)

# From empty whatever the machine kept: a demo left by an earlier run is removed first.
site-converge: setup
	mkdir -p $(SITE_ARTIFACTS)
	$(BIN)/sitehub demo down
	$(BIN)/sitehub demo up --recap $(SITE_ARTIFACTS)/converge.json

site-idempotence: setup
	$(BIN)/sitehub demo up --expect-unchanged --recap $(SITE_ARTIFACTS)/idempotence.json

site-check: setup
	$(BIN)/sitehub demo up --check --expect-unchanged --recap $(SITE_ARTIFACTS)/check.json

# `sitehub audit --live` on the converged demo, with a drift made on purpose (a stray listener
# on a hub host, removed again); the report and the drift list go to artifacts/site/.
site-audit: venv
	SITEHUB_SITE_REQUIRE=1 $(BIN)/pytest -q -p no:cacheprovider tests/site/audit

site-kernels: venv
	$(BIN)/ansible-playbook -i inventories/demo tests/site/kernels.yml

site-hubs: venv
	$(BIN)/ansible-playbook -i inventories/demo tests/site/hubs.yml

site-configs: venv
	$(BIN)/ansible-playbook -i inventories/demo tests/site/configs.yml

site-htc: venv
	$(BIN)/ansible-playbook -i inventories/demo tests/site/htc.yml

site-frontend: venv
	$(BIN)/python tests/site/frontend_endpoint.py $(SITE_ARTIFACTS)/frontend-endpoint.json
	FRONTEND_ENDPOINT=$(SITE_ARTIFACTS)/frontend-endpoint.json $(BIN)/pytest -p no:cacheprovider -v \
	  --junitxml=$(SITE_ARTIFACTS)/frontend-junit.xml molecule/frontend/tests

site-e2e: venv
	SITEHUB_E2E_REQUIRE=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e

# ---- demo --------------------------------------------------------------------
.PHONY: demo demo-down
demo: setup
	$(BIN)/sitehub demo up

demo-down: venv
	$(BIN)/sitehub demo down

# The browser test of the whole site: the demo (converged, or brought up), then real
# Chromium through landing page, Keycloak (password + TOTP enrollment), spawn form, JupyterLab,
# a notebook cell on a Slurm node, and logout. Screenshots: artifacts/e2e/.
.PHONY: e2e
e2e: setup
	$(BIN)/sitehub demo up
	$(BIN)/pytest -q tests/e2e
