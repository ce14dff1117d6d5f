# The two commands: `make demo` and `make test`. Both start from a fresh machine.
VENV    := .venv
BIN     := $(VENV)/bin
SELFOPS := $(BIN)/selfops
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bootstrap lab-up lab-down lint sanity unit integration molecule build bench

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(SELFOPS) lab up
	$(SELFOPS) status
	$(SELFOPS) smoke

test: bootstrap lint sanity unit integration molecule build

lint:
	$(BIN)/ansible-lint --profile production --strict

sanity:
	@scripts/sanity.sh

unit:
	$(BIN)/python -m pytest tests/unit -q

integration:
	SELFOPS_KEEP_LAB=1 $(BIN)/python -m pytest tests/integration -q

molecule:
	cd $(CURDIR) && $(BIN)/molecule test --all

build:
	@scripts/build-collection.sh

lab-up: bootstrap
	$(SELFOPS) lab up

lab-down: bootstrap
	$(SELFOPS) lab down

bench: bootstrap
	$(BIN)/python bench/run.py
