# Two commands for a new user (see README):
#   make run    set everything up, then start the dashboard
#   make test   set everything up, then run the whole test suite
# Both are idempotent: the environment is rebuilt only when requirements.lock
# or pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: run test setup lock clean-venv

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Maintainers: refresh the exact pins after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable --exclude rehab-core | sort > requirements.lock

clean-venv:
	rm -rf $(VENV)
