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
# The browser test (tests/browser/) drives Debian's Chromium through Playwright;
# Playwright never downloads a browser of its own here.
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test setup browser lock clean-venv

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

test: setup browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Installs Debian's chromium when it is missing and we are root (CI is); otherwise says what
# to install, and the browser test is skipped with that reason.
browser:
	@if [ -x $(CHROMIUM) ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q chromium; \
	else \
		echo "$(CHROMIUM) is missing: the browser test will be skipped." \
			"Install it as root with: apt-get update && apt-get install -y chromium"; \
	fi

# Maintainers: refresh the exact pins after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable --exclude rehab-core | sort > requirements.lock

clean-venv:
	rm -rf $(VENV)
