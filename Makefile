# carepath — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Everything a developer, the tests and `make run` need; the production image takes none of
# the extras (Dockerfile). constraints.txt pins every package to what CI ran on.
EXTRAS := dev,stack,cli

.PHONY: install run test lint bench bench-scale clean lock demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

run: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m worker.stack

test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# On a running `make run` stack: synthetic episodes in every phase, through the HTTP API.
demo: install
	$(BIN)/python -m api.workbench.demo

bench: install
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench

# Long (about 20 min at the defaults on 2 cores): SCALE_EPISODES open episodes on a dev
# server, SCALE_WORKERS worker processes, and the store at SCALE_RECORDS episodes (0: skip).
SCALE_EPISODES ?= 10000
SCALE_WORKERS  ?= 1
SCALE_RECORDS  ?= 1000000
bench-scale: install
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.scale_bench \
		--episodes $(SCALE_EPISODES) --workers $(SCALE_WORKERS) --records $(SCALE_RECORDS)

# After changing dependencies in pyproject.toml: resolve afresh, then pin what resolved.
lock: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade -e '.[$(EXTRAS)]'
	{ echo '# Pins for `make install` and the Dockerfile, written by `make lock`; do not edit.'; \
	  $(BIN)/pip freeze --exclude-editable | sed '/^carepath[= @]/d'; } > constraints.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
