# pada's two commands:
#   make run    set everything up (venv, pinned deps, embedded assets), then run the default experiment
#   make test   set everything up, then run the test suite (what CI runs): everything but the
#               end-to-end runs with the real teacher (`make test-slow`, minutes each on 2 cores)
# Both are idempotent: a second call only re-runs the job or the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pada-installed
# The embedded teacher runtime is built from source; a portable x86-64-v3 build (AVX2/FMA) rather
# than -march=native, so a cached wheel never meets a CPU it was not built for.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
PYTEST_ARGS ?=

.PHONY: setup assets run smoke test test-slow test-fast lint lock clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -r requirements.lock
	# W&B's sweep algorithms declare numpy<2 yet run on numpy 2 (tested): no resolver for them.
	$(BIN)/python -m pip install -q --no-deps sweeps==0.3.0
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

assets: setup
	$(BIN)/python -m pada.assets fetch

run: assets
	$(BIN)/python -m pada +experiment=scireason

smoke: assets
	$(BIN)/python -m pada +experiment=smoke

test: assets
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: assets
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not assets" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check pada tests bench
	$(BIN)/ruff format --check pada tests bench

# Regenerate the lock file from the current venv (after changing pyproject.toml's dependencies).
lock:
	$(BIN)/python -m pip freeze --exclude-editable \
	  | grep -v -E '^(pada|sweeps)[ =@]' \
	  | sed -E 's/^llama_cpp_python @ .*/llama-cpp-python==0.3.36/' > requirements.lock

clean-venv:
	rm -rf $(VENV)
