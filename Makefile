# kafka-dr: `make demo` and `make test` work on a fresh machine (Python 3.11+, Java 17+, Maven).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KAFKA_VERSION ?=
VERSION_FLAG := $(if $(KAFKA_VERSION),--kafka-version $(KAFKA_VERSION),)

.PHONY: install jars tools demo test unit integration lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Resolve the Apache Kafka jars (once; cached in ~/.cache/kafka-dr) or use $KAFKA_HOME.
jars: install
	$(BIN)/kafka-dr lab fetch $(VERSION_FLAG)

# System tools the integration tests run for real: sshd (Debian's openssh-server) for the ssh
# host access kind, and a headless browser (Debian's chromium) that opens a drill report.
# Installed only when missing; the package lists are fetched only if needed.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
tools:
	@if [ ! -x /usr/sbin/sshd ]; then \
		$(APT_INSTALL) openssh-server || { apt-get update -q && $(APT_INSTALL) openssh-server; }; \
	fi
	@if ! command -v chromium >/dev/null; then \
		$(APT_INSTALL) chromium || { apt-get update -q && $(APT_INSTALL) chromium; }; \
	fi

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
