# Sparrow RecSys — every target bootstraps .venv on first use, so on a fresh machine each is the only command needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARTIFACTS ?= artifacts
DATA ?= data/ml-latest-small
PORT ?= 8000

# Spark needs a JDK 17 and a loopback bind; TF and FAISS are quieter and steadier with these.
JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/default-java))
export JAVA_HOME
export SPARK_LOCAL_IP ?= 127.0.0.1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export OMP_NUM_THREADS ?= 1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: demo test bench bench-quick lint venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo ">> creating $(VENV) and installing sparrow-recsys (first run only, ~1-2 min)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

## make demo: build the bundle from ml-latest-small if there is none, then serve the site on :$(PORT)
demo: venv
	@if [ ! -f $(ARTIFACTS)/current ]; then \
		echo ">> no bundle under $(ARTIFACTS)/: running the offline pipeline on $(DATA) (a few minutes)"; \
		$(BIN)/sparrow offline run --data-dir $(DATA) --artifacts $(ARTIFACTS); \
	fi
	@echo ">> serving on http://127.0.0.1:$(PORT)/  (API docs: http://127.0.0.1:$(PORT)/docs)"
	$(BIN)/sparrow serve --artifacts $(ARTIFACTS) --port $(PORT)

## make test: the whole suite (unit, spark, redis, browser, e2e)
test: venv
	$(BIN)/pytest -ra -p no:cacheprovider $(PYTEST_ARGS)

## make bench: benchmarks; results land in docs/benchmarks.md
bench: venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: venv
	$(BIN)/python -m bench.run --quick

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

clean:
	rm -rf $(ARTIFACTS) test-artifacts .pytest_cache
