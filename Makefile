# hand3d_ros: the two commands a newcomer types.
#   make demo   set up .venv, render a short camera stream, play it through the ROS graph
#   make test   set up .venv, run the whole test suite
#   make teacher  the MediaPipe teacher venv for `hand3d label` (the tests use it too)
# Setup is idempotent: the first run builds the venv (minutes), later runs take seconds.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TEACHER_VENV ?= .venv-teacher
PYTEST_ARGS ?=

.PHONY: setup teacher test demo bench clean help

help:
	@echo "make demo   - run the demo (rendered camera -> hand3d node -> recorder; outputs in out/demo/)"
	@echo "make test   - run the tests (creates .venv and .venv-teacher on first use)"
	@echo "make setup  - only create/refresh .venv"
	@echo "make teacher - create/refresh .venv-teacher (MediaPipe Hands for hand3d label; ~500 MB)"
	@echo "make bench  - per-stage speed of every available backend"
	@echo "make clean  - remove .venv, .venv-teacher, build/ and out/"

setup:
	@VENV=$(abspath $(VENV)) tools/setup_env.sh

teacher:
	@TEACHER_VENV=$(abspath $(TEACHER_VENV)) tools/teacher_env.sh

# The teacher's tests (side convention on renders, label round trip) run against the real
# MediaPipe, so the test target makes its venv too (about a minute and 455 MB, once).
test: setup teacher
	cd hand3d_ros && $(abspath $(PY)) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/hand3d demo --out out/demo

bench: setup
	$(VENV)/bin/hand3d bench

clean:
	rm -rf $(VENV) $(TEACHER_VENV) build out
