# Tunegate: `make run` (local stack), `make test` (everything CI runs), `make bench`.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements*.txt | sha1sum | cut -c1-12)
PORT   ?= 8000
STAGE  ?= prod

.PHONY: install run test lint bench package clean

$(STAMP): requirements.txt requirements-vendor.txt requirements-dev.txt
	@echo "Installing Python dependencies into $(VENV) (requirements changed or first run; about 2 minutes the first time)..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	PORT=$(PORT) $(PY) scripts/run_local.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy chalicelib app.py
	$(PY) -m bandit -q -r chalicelib app.py --severity-level high

test: lint
	$(PY) -m pytest -q

# Every benchmark in turn, each with its load average; one that fails does not stop the rest,
# and the run fails at the end naming it.
bench: install
	@failed=""; for f in bench/bench_*.py; do \
	  echo "== $$f (load average $$(cut -d' ' -f1-3 /proc/loadavg), $$(date -u +%H:%M:%S) UTC)"; \
	  $(PY) $$f || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

# The deployable artefacts of a stage: out/sam.json (with infra/resources.json merged) and
# out/deployment.zip. No AWS calls: the region is only written into the template. The X-Ray
# SDK goes in through vendor/ (see devstack/lambda_vendor.py); the zip then gets compiled
# bytecode for the runtime's Python (devstack/lambda_bytecode.py): /var/task is read-only.
package: install
	$(PY) -m devstack.lambda_vendor
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true $(VENV)/bin/chalice package \
		--stage $(STAGE) --merge-template infra/resources.json out/
	$(PY) -m devstack.lambda_bytecode out/
	@ls -l out/deployment.zip out/sam.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .local
