#!/usr/bin/env bash
# Builds bench/bench_gpu.c with gcc alone (no full CMake configure: a GPU
# machine may lack libpng and other build dependencies of the CLI) and runs
# it with the given arguments. Needs Dawn in third_party/dawn/
# (scripts/get_dawn.sh) and a Vulkan loader (libvulkan.so.1).
#   bench/bench_gpu.sh [bench_gpu arguments...]
# BUILD=dir picks the build directory (default /tmp/wsd-bench-build).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-/tmp/wsd-bench-build}
mkdir -p "$B/obj" "$B/generated"
cmake -DWGSL_DIR=src/backends/webgpu/wgsl -DOUT="$B/generated/wsd_wgsl_embedded.c" \
      -P src/backends/webgpu/embed_wgsl.cmake
CFLAGS=(-O2 -w -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DWSD_HAVE_WEBGPU=1
        -Iinclude -Isrc "-I$B/generated" "-DWSD_DAWN_DEFAULT=\"$PWD/third_party/dawn\"")
# What the graph builders and the backends need; image I/O (libpng) and the
# public pipeline are not part of the benchmark.
mapfile -t SRCS < <(find src -name '*.c' | grep -v -e '^src/io/png' | sort)
SRCS+=("$B/generated/wsd_wgsl_embedded.c")
jobs=$(nproc 2>/dev/null || echo 4)
objs=()
i=0
for s in "${SRCS[@]}"; do
  o="$B/obj/$(echo "$s" | tr '/' '_').o"
  objs+=("$o")
  gcc "${CFLAGS[@]}" -c "$s" -o "$o" &
  i=$((i + 1))
  if [ $((i % jobs)) -eq 0 ]; then wait; fi
done
wait
rm -f "$B/libwsd_bench.a"
ar rcs "$B/libwsd_bench.a" "${objs[@]}"
gcc "${CFLAGS[@]}" bench/bench_gpu.c "$B/libwsd_bench.a" -ldl -lm -lpthread -o "$B/bench_gpu"
exec "$B/bench_gpu" "$@"
