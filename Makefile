# `make repro` and `make test` work on a machine with only Python 3.11: each creates .venv and installs
# requirements.txt when needed. A local copy of MNIST at ../shared/data/mnist is used when present
# (set MNIST_MIRROR to point elsewhere); otherwise the fetch stage downloads from the public mirrors.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-requirements
VEGA := .cache/vega/node_modules
BASE ?= main
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MNIST_MIRROR ?= $(wildcard $(abspath ../shared/data/mnist))

.PHONY: help setup repro push pull verify-cache verify-remote test test-fast lint format check-lock browser-deps review exp-show exp-fast exp sweep sweep-show sweep-worker sweep-collect bench bench-inference load-test clean-venv ci-pull comment-github comment-gitlab hooks test-deps

.DEFAULT_GOAL := help

# List the targets, each with the first line of the comment above it
help:
	@awk '/^# /{ if (!d) d = substr($$0, 3); next } /^[a-z][a-z-]*:/{ split($$0, t, ":"); \
		if (d) printf "  make %-14s %s\n", t[1], d } { d = "" }' $(MAKEFILE_LIST)

# Create .venv, install requirements.txt and this project's package, editable (every target runs this first)
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

# Reproduce the pipeline on the real MNIST (dvc repro), then the headline metrics against the last commit
repro: setup
	dvc repro
	python -m tools.review --headline --base HEAD

# Share your results: dvc push --run-cache, plus the metrics and plots that its run records name
# (so a teammate's `dvc pull` or `dvc repro --pull` restores every run pushed here instead of training again).
# REMOTE=name pushes to that DVC remote instead of the default one.
push: setup
	python -m maintenance.push $(if $(REMOTE),-r $(REMOTE))

# dvc pull, which also mends what a killed pull or a full disk left behind (maintenance/pull.py)
pull: setup
	python -m maintenance.pull

# Rehash every file in DVC's cache; a damaged one is named and removed, so that `dvc pull` or `dvc repro` restores it
verify-cache: setup
	python -m maintenance.verify_cache

# Rehash the DVC remote's copy of each file dvc.lock names; name each damaged or missing one, and the fix
# (REMOTE=name checks that DVC remote instead of the default one)
verify-remote: setup
	python -m maintenance.verify_cache --remote $(REMOTE)

# Run the whole test suite (what CI runs)
test: setup
	python -m pytest

# Run the fast tests only, in under a minute: units, data and model; not DVC end to end, server, browser, bench
test-fast: setup
	python -m pytest -m "not slow"

# Check the code with ruff: lint rules and formatting, and the GitHub workflow with actionlint (CI runs it)
lint: setup
	ruff check .
	ruff format --check .
	actionlint .github/workflows/*.yml

# Format the code and apply ruff's safe fixes
format: setup
	ruff format .
	ruff check --fix .

# Check that dvc.lock matches the code, params, dvc.yaml, metrics/ and plots/ (before committing; CI runs it)
# It fails naming the stage and the file. Fix: `dvc repro`, then commit dvc.lock, metrics/ and plots/.
check-lock: setup
	python -m maintenance.check_lock

# Install Chromium (Debian's package) and the Vega versions DVC's plots page asks for (the browser tests)
browser-deps: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	test -f $(VEGA)/vega-embed/build/vega-embed.min.js || npm install --no-audit --no-fund --loglevel=error \
		--legacy-peer-deps --prefix .cache/vega vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2

# Write review.md: metrics, params and training environment against BASE (default main), for a pull request
review: setup
	python -m tools.review --base $(BASE) --output review.md
	@echo "wrote review.md"

# Show `dvc exp show` trimmed to the columns that matter for review
exp-show: setup
	dvc exp show --drop '.*' --keep 'Experiment|accuracy$$|loss$$|f1_macro|misclassified|train_time_s|train\.(epochs|batch_size|learning_rate|ensemble|model\.width)'

# The fast profile, for quick experiments (defined in tools/profiles.py: half width, no augmentation, 2 epochs).
# Add your own overrides after it: make exp-fast FAST_EXTRA='-S train.seed=7'
FAST = $(shell $(VENV)/bin/python -m tools.profiles fast)
# Run the fast profile as an experiment (dvc exp run with the overrides above)
exp-fast: setup
	dvc exp run $(FAST) $(FAST_EXTRA)

# Run a profile of tools/profiles.py as an experiment: make exp PROFILE=fashion EXTRA='-S train.seed=7'
PROFILE ?= fast
exp: setup
	dvc exp run -n $(PROFILE)$(NAME_SUFFIX) $(shell $(VENV)/bin/python -m tools.profiles $(PROFILE)) $(EXTRA)

# Sweeps (tools/sweep.py): GRID in DVC's -S sweep syntax (default: the fast profile with 3 seeds), JOBS run at a
# time on each machine; across machines, this one is WORKER of OF and the experiments are SWEEP_NAME-1, -2, ...
GRID ?= $(FAST) -S 'train.seed=range(1,4)'
JOBS ?= 1
WORKER ?= 1
OF ?= 1
SWEEP_NAME ?= sweep

# Run a grid sweep here with DVC's queue, then the table: make sweep GRID="-S 'train.seed=range(1,4)'" JOBS=2
# `tools.sweep start` is `dvc queue start -j JOBS`, then it waits; it fails after the table, naming each failed
# point and its error, if any failed.
sweep: setup
	dvc exp run --queue $(GRID)
	python -m tools.sweep start -j $(JOBS); status=$$?; $(MAKE) --no-print-directory sweep-show; exit $$status

# Show dvc exp show for sweeps: the headline metrics and the params that differ between the experiments
sweep-show: setup
	dvc exp show --only-changed --drop 'Created|Executor|^(data|stages|models|metrics)/|per_class|(precision|recall)_macro|^(train|eval)\.(accuracy|loss)$$|best_epoch'

# Run machine WORKER of OF's share of GRID and push it: make sweep-worker WORKER=2 OF=3 GRID="..." SWEEP_NAME=...
# Every machine is a clone of the same git remote at the same commit, with the same DVC remote.
sweep-worker: setup
	python -m tools.sweep run --worker $(WORKER) --of $(OF) -j $(JOBS) -n $(SWEEP_NAME) $(GRID)

# Pull the experiments of GRID that every machine pushed, then the table: make sweep-collect GRID="..." SWEEP_NAME=...
sweep-collect: setup
	python -m tools.sweep collect -n $(SWEEP_NAME) $(GRID)
	$(MAKE) --no-print-directory sweep-show

# Benchmark every stage, and the default and each profile (3 seeds each) beside Keras's mnist_convnet: the frontier
# in bench/results.{json,md} and bench/frontier.png (about 80 minutes on 2 cores). A subset writes .cache/bench/:
# make bench PROFILES="fast" SEEDS="42"    (PROFILES: fast, accurate, ensemble, bf16; PROFILES= : the default alone)
bench: setup
	python -m bench.run $(if $(filter-out undefined,$(origin PROFILES)),--profiles $(PROFILES)) $(if $(SEEDS),--seeds $(SEEDS))

# Benchmark inference on the workspace's model: each runtime side by side, predict's calls: bench/inference.{json,md}
bench-inference: setup
	python -m bench.inference

# Load-test the web app with the trained model: bench/load.json and bench/load.md (about 2 minutes)
load-test: setup
	python -m bench.load

# Delete .venv (the next target that needs it rebuilds it)
clean-venv:
	rm -rf $(VENV)

# CI on GitHub (.github/workflows/ci.yml) and GitLab (.gitlab-ci.yml) runs only make targets (docs/ci.md).

# Pull the outputs dvc.lock names from the DVC remote; fail naming those it lacks (skipped without credentials)
ci-pull: setup
	python -m maintenance.ci_pull

# Post review.md on the pull request as one comment, edited on each push (GitHub Actions: gh, GH_TOKEN, PR_NUMBER...)
comment-github: setup
	@python -m maintenance.post_review github

# Post review.md on the merge request as one note, edited on each push (GitLab CI: a project token GITLAB_REVIEW_TOKEN)
comment-gitlab: setup
	@python -m maintenance.post_review gitlab

# Install the git hooks of .pre-commit-config.yaml: ruff and check-lock on commit, dvc push on git push
hooks: setup
	pre-commit install --hook-type pre-commit --hook-type pre-push --hook-type post-checkout

GITLAB_CI_LOCAL := .cache/gitlab-ci-local/node_modules/.bin/gitlab-ci-local
# Install what `make test` needs beyond .venv: browser-deps, rsync, Node and gitlab-ci-local (the CI tests), nginx
test-deps: setup
	command -v rsync >/dev/null && command -v npm >/dev/null && test -x /usr/sbin/nginx || \
		(apt-get update -qq && apt-get install -y -qq rsync nodejs npm nginx)
	$(MAKE) --no-print-directory browser-deps
	test -x $(GITLAB_CI_LOCAL) || npm install --no-audit --no-fund --loglevel=error \
		--prefix .cache/gitlab-ci-local gitlab-ci-local@4.72.0
