#!/bin/bash
# The module goldens (tests/test_golden_models.c: text encoder, UNet, VAE
# decoder/encoder with every intermediate, float32 bounds) on the WebGPU
# backend with float32 weights, under the device's limits and under the
# WebGPU spec-default limits (--gpu-limits default). On SwiftShader in CI;
# fails if the backend cannot start (the C test reports what is missing).
# usage: test_webgpu_modules.sh [adapter|default]...  (default: both; ctest
# runs each as its own test, test_webgpu_modules_adapter and _default)
set -u
: "${WSD_BINARY_DIR:?}"
BIN=$WSD_BINARY_DIR/tests/test_golden_models
[ -x "$BIN" ] || { echo "FAIL missing $BIN"; exit 1; }
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -r /usr/lib/chromium/vk_swiftshader_icd.json ]; then
    export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
fi
fails=0
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(adapter default)
for limits in "${configs[@]}"; do
    case $limits in adapter|default) ;; *) echo "FAIL unknown configuration '$limits' (adapter or default)"; exit 1 ;; esac
    echo "== webgpu, f32 weights, --gpu-limits $limits"
    if [ "$limits" = default ]; then export WSD_GPU_LIMITS=default; else unset WSD_GPU_LIMITS; fi
    WSD_TEST_BACKEND=webgpu WSD_GPU_WEIGHTS=f32 "$BIN" || fails=$((fails + 1))
done
[ "$fails" -eq 0 ] && echo "webgpu goldens: ok" || echo "webgpu goldens: $fails configuration(s) FAILED"
exit $((fails > 0))
