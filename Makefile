# pada's two commands:
#   make run    set everything up (venv, pinned deps, embedded assets), then run the default experiment
#   make test   set everything up, then run the whole test suite (what CI runs), including the
#               end-to-end runs with the real embedded student and teacher (`slow`, minutes each)
# Both are idempotent: a second call only re-runs the job or the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pada-installed
# The embedded teacher runs on llama.cpp's own HTTP server, `llama-server`, built from the llama.cpp
# tree inside the llama-cpp-python source distribution (vendor/llama.cpp), once per CPU tier:
# AVX2/FMA (x86-64-v3) everywhere, plus AVX-512 with VNNI/VBMI/BF16 where the CPU has them (1.3x
# faster prompt processing on the development machines). Each tier's binary is kept in its own cache
# folder, so a binary never meets a CPU it was not built for, and installed into the venv's bin/.
LLAMA_VERSION := 0.3.36
LLAMA_AVX2 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_AVX512 := $(LLAMA_AVX2) -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
LLAMA_TIER ?= $(shell f=$$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null); t=avx512; \
  for x in avx512f avx512bw avx512vl avx512dq avx512_vnni avx512vbmi avx512_bf16 avx_vnni; do \
    echo " $$f " | grep -qw $$x || t=avx2; done; echo $$t)
LLAMA_CMAKE_ARGS ?= $(if $(filter avx512,$(LLAMA_TIER)),$(LLAMA_AVX512),$(LLAMA_AVX2))
PADA_CACHE := $(or $(PADA_CACHE_DIR),$(HOME)/.cache/pada)
LLAMA_SERVER_DIR ?= $(PADA_CACHE)/llama-server/$(LLAMA_VERSION)-$(LLAMA_TIER)
LLAMA_SERVER := $(LLAMA_SERVER_DIR)/llama-server
LLAMA_BUILD_INFO := $(LLAMA_SERVER_DIR)/llama-server.build
PYTEST_ARGS ?=

.PHONY: setup assets run smoke test test-slow test-fast lint lock clean-venv llama-tier llama-server

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock $(LLAMA_SERVER) $(LLAMA_BUILD_INFO)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.lock
	# W&B's sweep algorithms declare numpy<2 yet run on numpy 2 (tested): no resolver for them.
	$(BIN)/python -m pip install -q --no-deps sweeps==0.3.0
	$(BIN)/python -m pip install -q --no-deps -e .
	# the embedded teacher's server, this CPU tier's build
	install -m 755 $(LLAMA_SERVER) $(BIN)/llama-server
	install -m 644 $(LLAMA_BUILD_INFO) $(BIN)/llama-server.build
	touch $@

# What the binary was built for (pada.provenance records it in each run's metrics.json).
$(LLAMA_BUILD_INFO): $(LLAMA_SERVER)
	printf 'version=%s\ntier=%s\ncmake=%s\n' "$(LLAMA_VERSION)" "$(LLAMA_TIER)" "$(LLAMA_CMAKE_ARGS)" > $@

# llama-server, built once per CPU tier (6-15 minutes on 2 cores), as one static binary.
$(LLAMA_SERVER):
	rm -rf $(LLAMA_SERVER_DIR).build && mkdir -p $(LLAMA_SERVER_DIR).build $(PADA_CACHE)/src
	test -f $(PADA_CACHE)/src/llama_cpp_python-$(LLAMA_VERSION).tar.gz || \
	  $(PYTHON) -m pip download -q --no-deps --no-binary :all: -d $(PADA_CACHE)/src llama-cpp-python==$(LLAMA_VERSION)
	tar -xzf $(PADA_CACHE)/src/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_SERVER_DIR).build \
	  llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp
	cmake -S $(LLAMA_SERVER_DIR).build/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp \
	  -B $(LLAMA_SERVER_DIR).build/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF $(LLAMA_CMAKE_ARGS) >/dev/null
	cmake --build $(LLAMA_SERVER_DIR).build/build --target llama-server -j $$(nproc) >/dev/null
	mkdir -p $(LLAMA_SERVER_DIR)
	install -m 755 $(LLAMA_SERVER_DIR).build/build/bin/llama-server $@
	rm -rf $(LLAMA_SERVER_DIR).build

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
	  > requirements.lock

clean-venv:
	rm -rf $(VENV)

# Which llama.cpp build this machine gets, and where it is kept.
llama-tier:
	@echo "$(LLAMA_TIER): $(LLAMA_SERVER)"
	@echo "CMake flags: $(LLAMA_CMAKE_ARGS)"

llama-server: $(LLAMA_SERVER)
