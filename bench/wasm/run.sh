#!/usr/bin/env bash
# Builds the wasm SIMD128 matmul benchmark from the CPU kernel sources, twice:
# matmul.wasm (SIMD128 only) and matmul-relaxed.wasm (-mrelaxed-simd: the
# micro-kernel's multiply-add is f32x4.relaxed_madd; clang 14's prototype
# opcode rewritten by scripts/wasm_relaxed_fixup.mjs), runs them in headless
# Chromium (the page runs the relaxed module only where WebAssembly.validate
# accepts relaxed SIMD); then the native single-thread numbers for the same
# shapes (bench_cpu --matmul) when a native build is given.
#   bench/wasm/run.sh [NATIVE_BUILD_DIR]
# env: WASM_CC (clang-14), OUT (build-wasm-bench), WASM_CFLAGS (extra flags)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cc=${WASM_CC:-clang-14}
out=${OUT:-$root/build-wasm-bench}
mkdir -p "$out"
srcs=(src/backends/cpu/gemm.c src/backends/cpu/fast_ops.c src/backends/cpu/isa.c src/backends/cpu/isa_wasm.c
      src/backends/cpu/isa_avx2.c src/backends/cpu/isa_avx512.c src/backends/cpu/kernels_ref.c src/backends/cpu/pool.c
      src/core/threads.c src/core/dtype.c src/core/error.c bench/wasm/matmul_bench.c)
build() { # OUTPUT EXTRA_FLAGS...
  local o=$1; shift
  "$cc" --target=wasm32-wasi -std=c11 -O3 -msimd128 -mexec-model=reactor "$@" ${WASM_CFLAGS:-} -DWSD_NO_THREADS -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -o "$o" "${srcs[@]}"
}
build "$out/matmul.wasm"
build "$out/matmul-relaxed.raw.wasm" -mrelaxed-simd
node scripts/wasm_relaxed_fixup.mjs "$out/matmul-relaxed.raw.wasm" "$out/matmul-relaxed.wasm"
cp bench/wasm/page.html "$out/page.html"
echo "== wasm (Chromium, 1 thread; ISAS=${ISAS:-all})"
node bench/wasm/run.mjs "$out"
if [ $# -ge 1 ]; then
  echo "== native (1 thread)"
  "$1/bench/bench_cpu" --matmul --threads 1
fi
