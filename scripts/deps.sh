#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian packages and the npm
# registry only (pinned where we can). Idempotent: skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(cmake gcc make pkg-config libpng-dev zlib1g-dev unicode-data python3)
# libFuzzer targets and the Unicode normalisation conformance file (bzip2-packed)
apt_pkgs+=(libclang-rt-14-dev bzip2)
# [webgpu] libvulkan1: Vulkan loader Dawn dlopens; chromium: ships the SwiftShader
# Vulkan ICD (/usr/lib/chromium/vk_swiftshader_icd.json) the GPU tests run on in CI.
apt_pkgs+=(libvulkan1 chromium)
# [web] the wasm build of the engine (scripts/build_wasm.sh): clang/lld for
# wasm32, wasi-libc and its compiler-rt builtins. Node 20+ and npm run the
# app server and the browser test (tests/web_e2e.sh runs `npm ci` itself).
apt_pkgs+=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# [webgpu] Dawn (webgpu.h) from npm, pinned and integrity-checked, into third_party/dawn/.
if command -v npm >/dev/null 2>&1; then
  scripts/get_dawn.sh
else
  echo "deps: npm not found: skipping Dawn (the WebGPU backend will report itself unavailable)" >&2
fi
