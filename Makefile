# pada's two commands:
#   make run    set everything up (venv, pinned deps, embedded assets), then run the default experiment
#   make test   set everything up, then run the whole test suite (what CI runs), including the
#               end-to-end runs with the real embedded student and teacher (`slow`, minutes each)
# Both are idempotent: a second call only re-runs the job or the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pada-installed
# The embedded teacher runtime (llama.cpp) is built from source, once per CPU tier: AVX2/FMA
# (x86-64-v3) everywhere, plus AVX-512 with VNNI/VBMI/BF16 where the CPU has them (1.3x faster
# prompt processing on the development machines). Each tier's wheel is kept in its own folder, so a
# wheel never meets a CPU it was not built for (pip's own wheel cache does not know build flags).
LLAMA_VERSION := 0.3.36
LLAMA_AVX2 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_AVX512 := $(LLAMA_AVX2) -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
LLAMA_TIER ?= $(shell f=$$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null); t=avx512; \
  for x in avx512f avx512bw avx512vl avx512dq avx512_vnni avx512vbmi avx512_bf16 avx_vnni; do \
    echo " $$f " | grep -qw $$x || t=avx2; done; echo $$t)
LLAMA_CMAKE_ARGS ?= $(if $(filter avx512,$(LLAMA_TIER)),$(LLAMA_AVX512),$(LLAMA_AVX2))
LLAMA_WHEELS ?= $(or $(PADA_CACHE_DIR),$(HOME)/.cache/pada)/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_TIER)
PYTEST_ARGS ?=

.PHONY: setup assets run smoke test test-slow test-fast lint lock clean-venv llama-tier

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	# llama-cpp-python: this CPU tier's wheel, built once into $(LLAMA_WHEELS) (4-7 minutes).
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
	    -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install -q --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install -q --find-links $(LLAMA_WHEELS) -r requirements.lock
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
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	  | sed -E 's/^llama_cpp_python @ .*/llama-cpp-python==$(LLAMA_VERSION)/' > requirements.lock

clean-venv:
	rm -rf $(VENV)

# Which llama.cpp build this machine gets, and where its wheel is kept.
llama-tier:
	@echo "$(LLAMA_TIER): $(LLAMA_WHEELS)"
	@echo "CMAKE_ARGS=$(LLAMA_CMAKE_ARGS)"
