# Two commands for a new user (see README):
#   make run    set everything up, then start the dashboard
#   make test   set everything up, then run the whole test suite (what CI runs)
# and one for a developer's working day:
#   make check  the fast loop (about 3 minutes on 2 cores; 3 min 14 s measured): no slow, GPU, distributed,
#               browser, PostgreSQL or background-process tests; hypothesis with few examples
# All are idempotent: the environment is rebuilt only when requirements.lock
# or pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501
# The dashboard listens on this machine only unless told otherwise (HOST=0.0.0.0 make run);
# a hospital serves it behind a TLS reverse proxy (README, "Security").
HOST   ?= 127.0.0.1
# The browser test (tests/browser/) drives Debian's Chromium through Playwright;
# Playwright never downloads a browser of its own here.
CHROMIUM ?= /usr/bin/chromium

# The markers are declared in pyproject.toml; make test runs every one of them.
CHECK_MARKERS := not slow and not gpu and not distributed and not browser and not postgres and not processes

.PHONY: run test check setup browser postgres lock clean-venv

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# The environment is about 7 GB once installed (PyTorch's CUDA build and its libraries are 5.5 GB):
# a disk without that room is said in one sentence before pip starts, not as pip's OSError halfway.
NEED_GB ?= 8

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	@$(BIN)/python -c 'import shutil, sys, pathlib; \
		v = pathlib.Path(sys.argv[1]); need = float(sys.argv[2]) * 1e9; \
		have = sum(f.stat().st_size for f in v.rglob("*") if f.is_file() and not f.is_symlink()); \
		free = shutil.disk_usage(v).free; \
		sys.exit(0 if free + have >= need else \
		f"The Python environment needs about {need / 1e9:.0f} GB on the disk of {v.resolve()}, " \
		f"but only {free / 1e9:.1f} GB are free: free some space and run make again.")' $(VENV) $(NEED_GB)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: setup browser postgres
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest --durations=30

check: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "$(CHECK_MARKERS)" --hypothesis-profile=fast --durations=10

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

# The storage tests start a throwaway PostgreSQL server of their own (tests/_postgres.py) from
# Debian's binaries. Installs Debian's postgresql when initdb is missing and we are root (CI is);
# otherwise says what to install, and the PostgreSQL half of those tests is skipped with that reason.
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's postgresql for the storage tests (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q postgresql; \
	else \
		echo "PostgreSQL's initdb is missing: the storage tests will skip their PostgreSQL half." \
			"Install it as root with: apt-get update && apt-get install -y postgresql"; \
	fi

# Maintainers: refresh the exact pins after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable --exclude rehab-core | sort > requirements.lock

clean-venv:
	rm -rf $(VENV)
