# The two commands of the README: `make demo` and `make test`. Everything else is for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test check lint bench sanitize clean

venv: $(STAMP)

# setup.py and the C sources too: a changed extension is rebuilt (pip install -e builds it in place).
$(STAMP): pyproject.toml setup.py gateway/postgres/_lane.c gateway/mysql/_shape.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/airlock demo

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy approvals store gateway bot scheduler tests
	$(BIN)/lint-imports

# A worker per core; a test file stays on one worker (its module fixtures start once, and the
# tests of one file may share a server). Every test has its own database and free ports.
check: lint
	$(BIN)/pytest -q -n auto --dist loadfile

test: check

bench: venv
	$(BIN)/python tests/bench/pg_bench.py

# The C extensions' tests with the extensions built under AddressSanitizer and UBSan (temporary
# builds: the in-place ones are left alone); fails on any sanitizer report.
sanitize: venv
	tests/bench/sanitize.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
