# The two commands: `make demo` and `make test`. Both start from a fresh machine.
VENV    := .venv
BIN     := $(VENV)/bin
SELFOPS := $(BIN)/selfops
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bootstrap lab-up lab-down lint sanity unit integration molecule build bench ee

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@scripts/demo.sh

# lint, sanity and the unit tests run beside the integration tests (scripts/test.sh), then Molecule.
test: bootstrap
	@scripts/test.sh

lint:
	$(BIN)/ansible-lint --profile production --strict

sanity:
	@scripts/sanity.sh

unit:
	$(BIN)/python -m pytest tests/unit -q

integration:
	SELFOPS_KEEP_LAB=1 $(BIN)/python -m pytest tests/integration -q --durations=20

# Molecule keeps state between runs (it would skip create after an aborted run): reset it.
# One run of the three scenarios: the default scenario's create (lab up) once before them and its
# destroy (lab down) once after them (shared_state).
# The integration tests leave their lab up: it is removed first, so the scenarios start from a new one.
molecule:
	$(BIN)/molecule reset -s default
	$(BIN)/molecule destroy -s default
	$(BIN)/molecule test -s maintenance -s bluegreen -s default

build:
	@scripts/build-collection.sh

# The execution environment for AWX/Tower (execution-environment.yml), built with no registry.
ee: bootstrap
	@scripts/build-ee.sh

lab-up: bootstrap
	$(SELFOPS) lab up

lab-down: bootstrap
	$(SELFOPS) lab down

bench: bootstrap
	$(BIN)/python bench/run.py
