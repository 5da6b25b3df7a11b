# xtimer: `make run` starts the whole service locally, `make test` runs the tests.
# Both create the virtualenv (.venv) on first use; nothing needs installing by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STAGE ?= prod

.PHONY: run test venv clean package package-terraform deploy destroy redrive docs docs-serve

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "xtimer needs Python 3.11 (Lambda runtime python3.11); set PYTHON=...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# The state (timers, keys, task records, queued fires) is kept in .xtimer-local/ across restarts;
# FRESH=1 starts empty (docs/local-stack.md, "State").
run: $(INSTALLED)  ## the API, the tick and the worker on an embedded moto, state kept in .xtimer-local/ (FRESH=1 starts empty; HOST, PORT, AWS_ENDPOINT_URL)
	$(PY) -m xtimer_local$(if $(filter 1 yes true,$(FRESH)), --fresh)

test: $(INSTALLED) docs  ## the docs, strictly (a broken link fails), the import contracts (.importlinter), then the test suite, on moto, without network
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# The documentation site (docs/*.md, mkdocs.yml) into build/site/; --strict turns every warning
# (a broken link or anchor, a page missing from the nav) into a failure. NO_MKDOCS_2_WARNING
# silences mkdocs-material's end-of-life notice, printed on every build. The signature verifier
# is in README.md (the tests run that one) and in docs/security.md: the same code, or it fails.
DOCS_PORT ?= 8001
VERIFIER = sed -n '/^<!-- verifier -->$$/,/^```$$/p'
docs: $(INSTALLED)  ## the documentation site into build/site/, strictly
	@test -n "$$($(VERIFIER) README.md)" && test "$$($(VERIFIER) README.md)" = "$$($(VERIFIER) docs/security.md)" \
	  || { echo "docs: the verifier in README.md and in docs/security.md differ; make them the same" >&2; exit 1; }
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

docs-serve: $(INSTALLED)  ## the documentation site on http://127.0.0.1:$(DOCS_PORT), rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

# Benchmarks (docs/benchmarks.md); not part of `make test`. Options: ARGS="--timers 200 --minutes 2".
.PHONY: bench bench-precision
bench: $(INSTALLED)  ## issue 7's suite: precision vs a naive minute tick, scale, cost, throughput; report + plots in bench/results/ (ARGS=--quick: under 3 minutes)
	$(PY) -m bench.suite $(ARGS)

bench-precision: $(INSTALLED)  ## callback lateness on the local stack: p50/p90/p99/max, early, duplicate, missing
	$(PY) -m bench.precision $(ARGS)

.PHONY: bench-fairness
bench-fairness: $(INSTALLED)  ## issue 17: app B's lateness while app A's receiver hangs on every call, beside the baseline (ARGS=--quick)
	$(PY) -m bench.fairness $(ARGS)

.PHONY: bench-scale
bench-scale: $(INSTALLED)  ## AWS requests, DynamoDB units and cost per fire, with idle timers (ARGS="--sizes 0,1000,10000,100000")
	$(PY) -m bench.scale $(ARGS)

.PHONY: bench-load
bench-load: $(INSTALLED)  ## issue 6's load test: 10,000 timers due in one minute, each fire once? (ARGS="--timers 2000")
	$(PY) -m bench.load $(ARGS)

.PHONY: bench-coldstart
bench-coldstart: $(INSTALLED)  ## issue 18: each function's import + first invocation from the packaged zip, bundled boto3 or not (ARGS="--runs 9")
	$(PY) -m bench.coldstart $(ARGS)

# Deploying to AWS (docs/deploying.md); STAGE is a stage of .chalice/config.json.
package: $(INSTALLED)  ## chalice package STAGE (default prod) into build/package/STAGE, checked and cfn-linted
	$(PY) -m xtimer_deploy package --stage $(STAGE) --out build/package/$(STAGE)

package-terraform: $(INSTALLED)  ## the same as Terraform (chalice.tf.json + xtimer.tf.json) into build/terraform/STAGE, checked
	$(PY) -m xtimer_deploy package-terraform --stage $(STAGE) --out build/terraform/$(STAGE)

deploy: $(INSTALLED)  ## STAGE's tables and queues, chalice deploy, partial batch failures, alarms (AWS_PROFILE, AWS_REGION, ALARM_EMAIL)
	$(PY) -m xtimer_deploy deploy --stage $(STAGE)

destroy: $(INSTALLED)  ## delete STAGE's app; DELETE_DATA=1 its tables, queues and logs too; YES=1 asks nothing
	$(PY) -m xtimer_deploy destroy --stage $(STAGE)$(if $(filter 1 yes true,$(DELETE_DATA)), --delete-data)$(if $(filter 1 yes true,$(YES)), --yes)

redrive: $(INSTALLED)  ## move STAGE's dead-lettered fires back to the queue (docs/security.md, "Dead letters")
	$(PY) -m xtimer_admin --stage $(STAGE) redrive

clean:
	rm -rf $(VENV) build .pytest_cache
