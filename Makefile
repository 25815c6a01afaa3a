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
