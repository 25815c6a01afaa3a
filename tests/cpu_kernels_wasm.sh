#!/usr/bin/env bash
# The fast CPU kernels as the browser runs them: tests/test_cpu_kernels.c
# built for wasm32-wasi with SIMD128 (clang-14, wasi-libc; as
# scripts/build_wasm.sh builds the engine) and run under Node's WASI, so
# the wasm-simd128 and portable paths are checked against the float32
# reference kernels like the native ones. Built twice: SIMD128 only, and with
# relaxed SIMD (-mrelaxed-simd, clang 14's multiply-add opcode rewritten by
# scripts/wasm_relaxed_fixup.mjs, as the browser build does), which runs where
# Node has relaxed SIMD (Node 20 behind --experimental-wasm-relaxed-simd).
# env: WSD_SOURCE_DIR, WSD_BINARY_DIR (from ctest), WASM_CC (default clang-14)
set -euo pipefail
src=${WSD_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${WSD_BINARY_DIR:-$src/build}
cc=${WASM_CC:-clang-14}
fail() { echo "cpu_kernels_wasm: FAIL: $*"; exit 1; }
command -v "$cc" >/dev/null || fail "$cc not found (apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)"
command -v node >/dev/null || fail "node not found"
out="$bin/cpu-kernels-wasm"
mkdir -p "$out"
cd "$src"
build() { # OUTPUT EXTRA_FLAGS...
  local o=$1; shift
  "$cc" --target=wasm32-wasi -std=c11 -O2 -msimd128 "$@" -DWSD_NO_THREADS -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_GETPID -DWSD_SHARED_DEFAULT='"/"' -DWSD_BINARY_DIR='"/tmp"' \
    -Wall -Wextra -Wno-unused-parameter -Wno-unused-command-line-argument -Iinclude -Isrc -Itests \
    -o "$o" tests/test_cpu_kernels.c tests/testutil.c \
    src/backends/cpu/gemm.c src/backends/cpu/fast_ops.c src/backends/cpu/isa.c src/backends/cpu/isa_wasm.c \
    src/backends/cpu/isa_avx2.c src/backends/cpu/isa_avx512.c src/backends/cpu/kernels_ref.c src/backends/cpu/pool.c \
    src/core/threads.c src/core/dtype.c src/core/error.c src/io/file.c \
    -lwasi-emulated-process-clocks -lwasi-emulated-getpid || fail "wasm build failed ($*)"
}
run() { # WASM LOG NODE_FLAGS...
  local w=$1 log=$2; shift 2
  node --no-warnings "$@" --input-type=module -e '
import { WASI } from "node:wasi";
import fs from "node:fs";
const wasi = new WASI({ version: "preview1", args: ["test_cpu_kernels"], env: {}, preopens: {} });
const mod = await WebAssembly.compile(fs.readFileSync(process.argv[1]));
const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
const rc = wasi.start(inst);
process.exit(rc);
' "$w" | tee "$log"
}
build "$out/test_cpu_kernels.wasm"
run "$out/test_cpu_kernels.wasm" "$out/log.txt"
grep -q "^wasm-simd128, 1 thread(s): ok" "$out/log.txt" || fail "the wasm-simd128 kernels did not run"

build "$out/test_cpu_kernels-relaxed.raw.wasm" -mrelaxed-simd
node scripts/wasm_relaxed_fixup.mjs "$out/test_cpu_kernels-relaxed.raw.wasm" "$out/test_cpu_kernels-relaxed.wasm" || fail "relaxed SIMD fixup"
probe='process.exit(WebAssembly.validate(new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,123,3,2,1,0,10,61,1,59,0,
  ...[0,1,2].flatMap(() => [253,12,...new Array(16).fill(0)]),253,133,2,11])) ? 0 : 1)'
flags=()
if node --experimental-wasm-relaxed-simd -e "$probe" 2>/dev/null; then flags=(--experimental-wasm-relaxed-simd)
elif ! node -e "$probe" 2>/dev/null; then echo "cpu_kernels_wasm: this Node has no relaxed SIMD; relaxed build not run"; exit 0; fi
echo "== relaxed SIMD build"
run "$out/test_cpu_kernels-relaxed.wasm" "$out/log-relaxed.txt" "${flags[@]}"
grep -q "^wasm-simd128, 1 thread(s): ok" "$out/log-relaxed.txt" || fail "the relaxed-SIMD wasm kernels did not run"
