# recflow: `make demo` runs the whole pipeline offline; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# sam build needs the Lambda runtime's interpreter (python3.12) on PATH.
PY312_BIN := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin) $(dir $(shell command -v python3.12 2>/dev/null)))
STACK ?= recflow

.PHONY: demo test lint check-template unit build deploy bench clean

# The demo needs the runtime dependencies; the checks also need pyspark, cfn-lint, statelint, ruff.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

# aws-sam-cli pins its own boto3/click/cfn-lint: it lives in its own virtualenv.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q "aws-sam-cli>=1.120,<2"
	touch $@

# checkov pins its own boto3 and cloud SDKs as well: its own virtualenv too.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q "checkov>=3.2,<4"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/recflow demo

test: lint check-template build unit

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# checkov: zero failed checks; a check that does not apply is skipped on its resource, with a reason
# (Metadata: checkov: skip in template.yaml), never here.
check-template: $(VENV)/.dev-installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/statelint --ignore=URI statemachine/pipeline.asl.json
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint
	$(CHECKOV) -f template.yaml --framework cloudformation --quiet --compact --skip-download

build: $(SAM_VENV)/.installed
	@test -n "$(PY312_BIN)" || { echo "sam build needs python3.12 on PATH (the Lambda runtime)"; exit 1; }
	PATH="$(PY312_BIN):$$PATH" $(SAM) build

unit: $(VENV)/.dev-installed
	$(VENV)/bin/pytest

deploy: build
	$(SAM) deploy --guided --stack-name $(STACK)

bench: $(VENV)/.dev-installed
	$(VENV)/bin/python bench/pipeline_bench.py
	$(VENV)/bin/python bench/recommender_bench.py
	$(VENV)/bin/python bench/etl_bench.py
	$(VENV)/bin/python bench/polling_bench.py
	$(VENV)/bin/python bench/realtime_bench.py
	$(VENV)/bin/python bench/generate_bench.py
	$(VENV)/bin/python bench/import_bench.py
	$(VENV)/bin/python bench/scale_bench.py

clean:
	rm -rf .aws-sam .demo .pytest_cache
