# Two entry points (see README): `make run` builds everything and serves the
# web app on 127.0.0.1; `make test` installs dependencies, builds and runs all tests.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test run clean

all: build

deps:
	bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DWSD_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The main job: the web app with the embedded default model, served on
# 127.0.0.1 (the URL is printed). The native CLI is built too (./build/wsd).
run: build wasm
	node web/server.mjs --port $(PORT)

clean:
	rm -rf $(BUILD)

# [web] The browser engine (web/dist/wsd.wasm, clang-14 for wasm32-wasi) and the
# app server on 127.0.0.1 with COOP/COEP (web/server.mjs; PORT=0 picks a free port).
PORT ?= 8080
.PHONY: wasm serve
wasm:
	bash scripts/build_wasm.sh

serve: wasm
	node web/server.mjs --port $(PORT)

# [issue 7: reliability] Fuzzing and the sanitizer run.
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="json png"]  builds the libFuzzer
#     targets (clang-14, ASan+UBSan) in build-fuzz and runs each in turn, niced;
#     new inputs stay in build-fuzz/corpus-*, crashes in build-fuzz/fuzz_*-crash-*.
#   make test-asan  the test suite under ASan+UBSan+LSan (tests/sanitizers.sh,
#     tree $(BUILD)-asan); `make test` runs it too, as the ctest test "sanitizers".
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
.PHONY: fuzz test-asan
fuzz:
	bash fuzz/fuzz.sh build build-fuzz clang-14 $(CURDIR)/../shared
	@set -e; for t in $(FUZZ_TARGETS); do nice bash fuzz/fuzz.sh run build-fuzz fuzz_$$t $(FUZZ_SECONDS); done

test-asan:
	WSD_SOURCE_DIR=$(CURDIR) WSD_BINARY_DIR=$(CURDIR)/$(BUILD) bash tests/sanitizers.sh
