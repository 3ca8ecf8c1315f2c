# `make repro` and `make test` work on a machine with only Python 3.11: each creates .venv and installs
# requirements.txt when needed. A local copy of MNIST at ../shared/data/mnist is used when present
# (set MNIST_MIRROR to point elsewhere); otherwise the fetch stage downloads from the public mirrors.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-requirements
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MNIST_MIRROR ?= $(wildcard $(abspath ../shared/data/mnist))

.PHONY: setup repro test clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

repro: setup
	dvc repro
	dvc metrics show

test: setup
	python -m pytest

clean-venv:
	rm -rf $(VENV)
