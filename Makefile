# xtimer: `make run` starts the whole service locally, `make test` runs the tests.
# Both create the virtualenv (.venv) on first use; nothing needs installing by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STAGE ?= prod

.PHONY: run test venv clean

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "xtimer needs Python 3.11 (Lambda runtime python3.11); set PYTHON=...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

run: $(INSTALLED)  ## the API, the tick and the worker on an embedded moto (HOST, PORT, AWS_ENDPOINT_URL)
	$(PY) -m xtimer_local

test: $(INSTALLED)  ## the test suite, on moto, without network
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build .pytest_cache
