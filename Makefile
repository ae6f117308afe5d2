# kafka-dr: `make demo` and `make test` work on a fresh machine (Python 3.11+, Java 17+, Maven).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KAFKA_VERSION ?=
VERSION_FLAG := $(if $(KAFKA_VERSION),--kafka-version $(KAFKA_VERSION),)

.PHONY: install lock jars tools demo test unit integration lint bench clean

# Exact versions, with hashes, from the lock files (`make lock` refreshes them): the dev lock
# for this venv, CI and the tests; requirements.lock, the runtime subset, for the image.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve pyproject.toml's ranges to the newest versions (pip-compile from pip-tools, in a
# throw-away venv); the runtime lock is constrained by the dev lock, so both hold one version
# of each package. Commit both files.
COMPILE := --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links
lock:
	@tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT && \
	$(PYTHON) -m venv "$$tools" && \
	"$$tools/bin/pip" install --quiet pip-tools && \
	"$$tools/bin/pip-compile" $(COMPILE) --extra dev -o requirements-dev.lock pyproject.toml && \
	"$$tools/bin/pip-compile" $(COMPILE) -c requirements-dev.lock -o requirements.lock pyproject.toml

# Resolve the Apache Kafka jars (once; cached in ~/.cache/kafka-dr) or use $KAFKA_HOME.
jars: install
	$(BIN)/kafka-dr lab fetch $(VERSION_FLAG)

# System tools the tests run for real, as command:Debian-package pairs: sshd for the ssh host
# access kind, a headless browser that opens a drill report, promtool (from prometheus) that
# unit-tests the alert rules, systemd-analyze that verifies the systemd unit. Installed only
# when missing; the package lists are fetched only if an install fails without them.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
SYSTEM_TOOLS := /usr/sbin/sshd:openssh-server chromium:chromium promtool:prometheus \
	systemd-analyze:systemd kcat:kcat
tools:
	@for pair in $(SYSTEM_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair##*:}; \
		if ! command -v $$cmd >/dev/null 2>&1; then \
			$(APT_INSTALL) $$pkg || { apt-get update -q && $(APT_INSTALL) $$pkg; } || exit 1; \
		fi; \
	done

demo: jars
	$(BIN)/kafka-dr lab demo --dir .demo $(VERSION_FLAG)

lint: install
	$(BIN)/ruff check dr tests integration bench
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests

integration: jars tools
	KAFKA_DR_TEST_KAFKA_VERSION=$(KAFKA_VERSION) $(BIN)/pytest integration

test: jars tools lint
	KAFKA_DR_TEST_KAFKA_VERSION=$(KAFKA_VERSION) $(BIN)/pytest tests integration --durations=25

bench: jars
	@for b in $(wildcard bench/*.py); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	-$(BIN)/kafka-dr lab down --dir .demo 2>/dev/null
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
