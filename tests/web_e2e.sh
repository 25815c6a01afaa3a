#!/usr/bin/env bash
# Browser end-to-end test of the web app (ctest runs every tests/*.sh).
# Debian's Chromium, headless, WebGPU on SwiftShader, driven by playwright-core
# (pinned in package-lock.json); the checks are in tests/web/e2e.mjs.
# env: WSD_SOURCE_DIR, WSD_BINARY_DIR (from ctest), CHROMIUM (default /usr/bin/chromium),
#      WSD_SHARED_DEFAULT (the shared data folder, for the default model until assets/ has it)
set -euo pipefail
src=${WSD_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${WSD_BINARY_DIR:-$src/build}
cd "$src"
out="$bin/web-e2e"
mkdir -p "$out"

fail() { echo "web_e2e: FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "$chromium not found: install Debian's chromium (scripts/deps.sh does; CI must run it)"
command -v node >/dev/null || fail "node not found"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || fail "node $(node --version) is too old (playwright-core needs 20+)"

# Node dependencies: exactly what package-lock.json pins.
want=$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$want" != "$have" ]; then
  echo "web_e2e: npm ci (playwright-core $want)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed"
fi

# The wasm engine (incremental) and the C-side smoke test of web/gpu.js.
WSD_WASM_BUILD="$bin/web" bash scripts/build_wasm.sh || fail "scripts/build_wasm.sh failed"
clang-14 --target=wasm32-wasi -O2 -mexec-model=reactor -Iinclude -Isrc tests/web/gpu_smoke.c \
  -Wl,--allow-undefined -o "$bin/web/gpu_smoke.wasm" || fail "building tests/web/gpu_smoke.c failed"

args=(--out "$out" --chromium "$chromium" --gpu-smoke "$bin/web/gpu_smoke.wasm")
# The built-in model: assets/shapes-sd15 once it is in the tree, else the shared copy.
shared=${WSD_SHARED_DEFAULT:-$src/../shared}
if [ ! -f assets/shapes-sd15/model_index.json ] && [ ! -f assets/shapes-sd15/model/model_index.json ] &&
   [ -f "$shared/shapes-sd15/model/model_index.json" ]; then
  args+=(--default-model "$shared/shapes-sd15/model")
fi
[ -f "$shared/reference/tiny-sd15/model_index.json" ] && args+=(--models-dir "$shared/reference/tiny-sd15")
[ -f "$shared/reference/golden/pipeline_dpmpp2m_cfg.safetensors" ] &&
  args+=(--pipeline-golden "$shared/reference/golden/pipeline_dpmpp2m_cfg.safetensors")
[ -d "$shared/shapes-sd15/images" ] && args+=(--goldens "$shared/shapes-sd15/images")

node tests/web/e2e.mjs "${args[@]}"
