#!/usr/bin/env bash
# Builds the browser engine: web/dist/wsd.wasm, and web/dist/wsd-relaxed.wasm,
# the same with the CPU micro-kernel on relaxed SIMD's multiply-add
# (src/backends/cpu/isa_wasm.c built with -mrelaxed-simd, clang 14's prototype
# opcode rewritten to the shipped one by scripts/wasm_relaxed_fixup.mjs). The
# worker (web/worker.js) loads the relaxed module where WebAssembly.validate
# accepts relaxed SIMD, else the plain one.
#
# The same C sources as the native library (every src/**/*.c except the PNG
# writer, which needs libpng, and the native Dawn side of the WebGPU backend),
# plus our JS bridge web/engine/*.c (exports for JS; the default model read
# from the worker's file system in place of the native build's assembled
# copy: WSD_HAVE_EMBEDDED_MODEL), compiled with clang-14 for wasm32-wasi as
# a reactor module (no Emscripten). The tree grows while people work, so the
# sources are globbed on every run.
#
# A source that does not compile for wasm is reported and left out; engine
# functions that end up undefined become imports of module "env", which the JS
# loader (web/wasi.js) turns into "not in this build" errors, so the page can
# say which engine features exist. WSD_WASM_STRICT=1 makes both fatal.
#
# env: WSD_WASM_OUT (default web/dist), WSD_WASM_BUILD (default build-web),
#      WASM_CC (default clang-14), JOBS (default 2), WSD_WASM_STRICT.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out_dir=${WSD_WASM_OUT:-$root/web/dist}
build_dir=${WSD_WASM_BUILD:-$root/build-web}
cc=${WASM_CC:-clang-14}
jobs=${JOBS:-2}
strict=${WSD_WASM_STRICT:-0}

die() { echo "build_wasm: $*" >&2; exit 1; }
command -v "$cc" >/dev/null || die "$cc not found (apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)"
command -v wasm-ld-14 >/dev/null || command -v wasm-ld >/dev/null || die "wasm-ld not found (apt-get install lld-14)"
[ -f /usr/lib/wasm32-wasi/libc.a ] || die "wasi-libc not found (apt-get install wasi-libc)"
rt=$("$cc" --target=wasm32-wasi -print-libgcc-file-name 2>/dev/null || true)
[ -n "$rt" ] && [ -f "$rt" ] || die "compiler-rt for wasm32 not found (apt-get install libclang-rt-14-dev-wasm32)"

mkdir -p "$out_dir" "$build_dir/obj" "$build_dir/log"

cflags=(--target=wasm32-wasi -std=c11 -O3 -msimd128 -mnontrapping-fptoint -msign-ext
        -mexec-model=reactor -DWSD_NO_THREADS -DWSD_WASM=1 -DWSD_HAVE_EMBEDDED_MODEL=1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
        -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL
        -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -I"$build_dir/generated")
[ -d build/generated ] && cflags+=(-Ibuild/generated)

# Sources: all of src/ except what only the native build can have.
mapfile -t sources < <(find src -name '*.c' \
    ! -path 'src/io/png.c' \
    ! -path 'src/backends/webgpu/*native*' \
    ! -path 'src/backends/webgpu/*dawn*' \
    ! -path 'src/backends/webgpu/*wgpu_*' | LC_ALL=C sort)
sources+=(web/engine/*.c)

# Generated sources the native build makes with CMake scripts: the embedded
# WGSL kernels (the browser backend compiles the same texts).
mkdir -p "$build_dir/generated"
if [ -f src/backends/webgpu/embed_wgsl.cmake ] && compgen -G 'src/backends/webgpu/wgsl/*.wgsl' >/dev/null; then
  command -v cmake >/dev/null || die "cmake not found (needed to embed the WGSL kernels)"
  cmake -DWGSL_DIR="$root/src/backends/webgpu/wgsl" -DOUT="$build_dir/generated/wsd_wgsl_embedded.c" \
        -P src/backends/webgpu/embed_wgsl.cmake
  sources+=("$build_dir/generated/wsd_wgsl_embedded.c")
fi

# The browser WebGPU backend: built when src/backends/webgpu/ has sources
# besides the native Dawn side (its gpu_* calls are then imports: web/gpu.js).
for f in src/backends/webgpu/*.c; do
  case $f in *dawn*|*native*|*wgpu_*) ;; *) [ -f "$f" ] && { cflags+=(-DWSD_HAVE_WEBGPU=1); break; } ;; esac
done

# Any header newer than an object forces a rebuild of that object (simple and safe).
newest_header=$(find include src web/engine -name '*.h' -printf '%T@\n' 2>/dev/null | sort -n | tail -1)
newest_header=${newest_header%.*}
flags_sig=$(printf '%s ' "$cc" "${cflags[@]}" | md5sum | cut -c1-12)

compile_one() {
  local src=$1 obj log
  obj="$build_dir/obj/$(echo "$src" | tr '/' '_' | sed 's/\.c$//').$flags_sig.o"
  log="$build_dir/log/$(echo "$src" | tr '/' '_').log"
  if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$(stat -c %Y "$obj")" -ge "${newest_header:-0}" ]; then
    echo "OK $obj"; return 0
  fi
  if "$cc" "${cflags[@]}" -c "$src" -o "$obj.tmp" >"$log" 2>&1; then
    mv "$obj.tmp" "$obj"; echo "OK $obj"
  else
    rm -f "$obj.tmp" "$obj"; echo "FAIL $src"
  fi
}
export -f compile_one
export build_dir flags_sig newest_header cc
export CFLAGS_STR="${cflags[*]}"
# Bash arrays do not cross xargs; re-split the flags inside (no flag has spaces).
results=$(printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -I{} bash -c 'cflags=($CFLAGS_STR); compile_one "$1"' _ {})

objs=(); failed=()
while read -r status what; do
  case $status in
    OK) objs+=("$what") ;;
    FAIL) failed+=("$what") ;;
  esac
done <<<"$results"

if [ ${#failed[@]} -gt 0 ]; then
  echo "build_wasm: ${#failed[@]} source(s) do not compile for wasm32 and were left out:" >&2
  for f in "${failed[@]}"; do
    log="$build_dir/log/$(echo "$f" | tr '/' '_').log"
    echo "  $f: $(grep -m1 'error:' "$log" || head -1 "$log")" >&2
  done
  [ "$strict" = 1 ] && die "strict mode: compile failures"
fi

out="$out_dir/wsd.wasm"
"$cc" --target=wasm32-wasi -O3 -mexec-model=reactor -o "$out.tmp" "${objs[@]}" \
    -lwasi-emulated-process-clocks -lwasi-emulated-signal \
    -Wl,--allow-undefined -Wl,--strip-debug -Wl,-z,stack-size=4194304 \
    -Wl,--initial-memory=33554432 -Wl,--max-memory=4294967296 -lm
mv "$out.tmp" "$out"

# The relaxed-SIMD module: only the CPU ISA file differs.
isa_src=src/backends/cpu/isa_wasm.c
isa_obj="$build_dir/obj/$(echo "$isa_src" | tr '/' '_' | sed 's/\.c$//').$flags_sig.o"
relaxed_note=""
if [[ " ${objs[*]} " == *" $isa_obj "* ]] && command -v node >/dev/null; then
  robj="$build_dir/obj/isa_wasm_relaxed.$flags_sig.o"
  if ! [ -f "$robj" ] || [ "$robj" -ot "$isa_src" ] || [ "$(stat -c %Y "$robj")" -lt "${newest_header:-0}" ]; then
    "$cc" "${cflags[@]}" -mrelaxed-simd -Wno-unused-command-line-argument -c "$isa_src" -o "$robj"
  fi
  robjs=()
  for o in "${objs[@]}"; do [ "$o" = "$isa_obj" ] && robjs+=("$robj") || robjs+=("$o"); done
  rout="$out_dir/wsd-relaxed.wasm"
  "$cc" --target=wasm32-wasi -O3 -mexec-model=reactor -o "$rout.raw" "${robjs[@]}" \
      -lwasi-emulated-process-clocks -lwasi-emulated-signal \
      -Wl,--allow-undefined -Wl,--strip-debug -Wl,-z,stack-size=4194304 \
      -Wl,--initial-memory=33554432 -Wl,--max-memory=4294967296 -lm
  node scripts/wasm_relaxed_fixup.mjs "$rout.raw" "$rout.tmp"
  rm -f "$rout.raw"
  mv "$rout.tmp" "$rout"
  relaxed_note=", $rout ($(stat -c %s "$rout") bytes)"
else
  rm -f "$out_dir/wsd-relaxed.wasm"
fi

# Undefined functions became imports from module "env" (our own imports live in
# modules "wsd" and "wsd_gpu", WASI's in "wasi_snapshot_preview1"): report them.
if command -v node >/dev/null; then
  # gpu_* (src/backends/webgpu/gpu.h) are implemented in JS by web/gpu.js: not missing.
  missing=$(node --input-type=module -e '
    import fs from "node:fs";
    const { GPU_FUNCTIONS } = await import(process.argv[2]);
    const m = new WebAssembly.Module(fs.readFileSync(process.argv[1]));
    for (const i of WebAssembly.Module.imports(m))
      if (i.module === "env" && !GPU_FUNCTIONS.includes(i.name)) console.log(i.name);' "$out" "$root/web/gpu.js")
  if [ -n "$missing" ]; then
    echo "build_wasm: engine functions not defined yet (the page reports them as unavailable):" >&2
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    [ "$strict" = 1 ] && die "strict mode: undefined functions"
  fi
fi
echo "build_wasm: $out ($(stat -c %s "$out") bytes, ${#objs[@]} objects, ${#failed[@]} left out)$relaxed_note"
