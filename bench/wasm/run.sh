#!/usr/bin/env bash
# Builds the wasm SIMD128 matmul benchmark from the CPU kernel sources and runs
# it in headless Chromium; then the native single-thread numbers for the same
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
"$cc" --target=wasm32-wasi -std=c11 -O3 -msimd128 -mexec-model=reactor ${WASM_CFLAGS:-} -DWSD_NO_THREADS -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -o "$out/matmul.wasm" "${srcs[@]}"
cp bench/wasm/page.html "$out/page.html"
echo "== wasm (Chromium, 1 thread)"
node bench/wasm/run.mjs "$out"
if [ $# -ge 1 ]; then
  echo "== native (1 thread)"
  "$1/bench/bench_cpu" --matmul --threads 1
fi
