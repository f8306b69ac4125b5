# Two commands for users: `make demo` and `make test`. Both install what they need, idempotently.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format unit integration install lock clean

# The virtual environment is rebuilt only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gbank demo

test: lint unit integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	$(BIN)/pytest -m unit -q

integration: $(STAMP)
	$(BIN)/pytest -m integration -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the pinned set after changing a range in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o constraints.txt

clean:
	-$(BIN)/gbank cluster down
	-$(BIN)/gbank kafka stop
	rm -rf $(VENV) .gbank
