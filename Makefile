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

# lint, sanity, the unit tests and the EE build run beside Molecule and the integration tests (scripts/test.sh).
test: bootstrap
	@scripts/test.sh

lint:
	$(BIN)/ansible-lint --profile production --strict

sanity:
	@scripts/sanity.sh

unit:
	$(BIN)/python -m pytest tests/unit -q

integration:
	SELFOPS_KEEP_LAB=1 $(BIN)/python -m pytest tests/integration -q --durations=0

# Molecule keeps state between runs (it would skip create after an aborted run): reset it.
# One run of the three scenarios: the default scenario's create (lab up) once before them and its
# destroy (lab down) once after them (shared_state). A lab left up by earlier tests is removed
# first, so the scenarios start from a new one. MOLECULE_DESTROY=never leaves the lab up after them
# (make test hands it to the integration tests instead of building a second one).
MOLECULE_DESTROY ?= always
molecule:
	$(BIN)/molecule reset -s default
	$(BIN)/molecule destroy -s default
	$(BIN)/molecule test --destroy=$(MOLECULE_DESTROY) -s maintenance -s bluegreen -s default

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
