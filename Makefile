# kafka-dr: `make demo` and `make test` work on a fresh machine (Python 3.11+, Java 17+, Maven).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KAFKA_VERSION ?=
VERSION_FLAG := $(if $(KAFKA_VERSION),--kafka-version $(KAFKA_VERSION),)

.PHONY: install jars demo test unit integration lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Resolve the Apache Kafka jars (once; cached in ~/.cache/kafka-dr) or use $KAFKA_HOME.
jars: install
	$(BIN)/kafka-dr lab fetch $(VERSION_FLAG)

demo: jars
	$(BIN)/kafka-dr lab demo --dir .demo $(VERSION_FLAG)

lint: install
	$(BIN)/ruff check dr tests integration bench
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests

integration: jars
	KAFKA_DR_TEST_KAFKA_VERSION=$(KAFKA_VERSION) $(BIN)/pytest integration

test: jars lint
	KAFKA_DR_TEST_KAFKA_VERSION=$(KAFKA_VERSION) $(BIN)/pytest tests integration

bench: jars
	@for b in $(wildcard bench/*.py); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	-$(BIN)/kafka-dr lab down --dir .demo 2>/dev/null
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
