#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (see fuzz/CMakeLists.txt).
#   fuzz.sh build BUILD_DIR CLANG [SHARED_DIR]   configure + build every target with clang
#   fuzz.sh run BUILD_DIR NAME [SECONDS]          run fuzz_NAME from fuzz/corpus/NAME/
# SECONDS defaults to $WSD_FUZZ_SECONDS or 20. New inputs go to BUILD_DIR, never
# to the committed corpus; a crash leaves its input as BUILD_DIR/NAME-crash-*.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
dir=${2:?build dir}
case "$cmd" in
build)
  clang=${3:-}
  if [ -z "$clang" ] || ! command -v "$clang" >/dev/null; then
    echo "SKIPPED: no clang found (Debian: clang-14, libclang-rt-14-dev); fuzz targets not built"
    mkdir -p "$dir" && touch "$dir/.skipped"
    exit 0
  fi
  rm -f "$dir/.skipped"
  shared=${4:-$here/../../shared}
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$here" -B "$dir" -DCMAKE_C_COMPILER="$clang" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWSD_SHARED_DEFAULT="$shared" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' ; exit "${PIPESTATUS[0]}"
  ;;
run)
  name=${3:?target}
  secs=${4:-${WSD_FUZZ_SECONDS:-20}}
  if [ -f "$dir/.skipped" ]; then echo "SKIPPED: fuzz targets were not built (no clang)"; exit 0; fi
  bin="$dir/$name"
  [ -x "$bin" ] || { echo "FAIL: $bin was not built (run the fuzz_build test first)"; exit 1; }
  seeds="$here/corpus/${name#fuzz_}"
  work="$dir/corpus-$name"
  mkdir -p "$work"
  args=(-max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/$name-")
  dict="$here/dict/${name#fuzz_}.dict"
  [ -f "$dict" ] && args+=(-dict="$dict")
  # extra libFuzzer flags, e.g. WSD_FUZZ_ARGS="-jobs=2 -workers=2"
  # shellcheck disable=SC2206
  [ -n "${WSD_FUZZ_ARGS:-}" ] && args+=($WSD_FUZZ_ARGS)
  echo "fuzzing $name for $secs s (seeds: $seeds)"
  # the recommended dictionary libFuzzer prints at the end can be long: drop it
  # so the tail keeps the final "#N DONE cov: ft: corp:" line and the stats
  if [ -d "$seeds" ]; then "$bin" "${args[@]}" "$work" "$seeds"; else "$bin" "${args[@]}" "$work"; fi 2>&1 |
    grep -Ev '^".*" # Uses: [0-9]+$|^###### (Recommended dictionary|End of recommended dictionary)' | tail -60
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && echo "ok: $name ran $secs s without a crash, leak or invariant failure" || echo "FAIL: $name exit $rc"
  exit "$rc"
  ;;
*)
  echo "usage: fuzz.sh build BUILD_DIR CLANG [SHARED] | run BUILD_DIR NAME [SECONDS]" >&2
  exit 2
  ;;
esac
