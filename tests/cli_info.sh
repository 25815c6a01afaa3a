#!/bin/bash
# `wsd info`: the real SD 1.5 configuration without weights (parameter counts
# must be the published ones: CLIP text model 123,060,480, UNet 859,520,964,
# VAE 83,653,863 = decoder 49,490,199 + encoder 34,163,664), tiny-sd15 from
# its folder (the counts of shared/reference/golden/models.json), and usage errors.
set -u
: "${WSD_CLI:?WSD_CLI must point at the wsd binary}"
SHARED=${WSD_SHARED:-${WSD_SHARED_DEFAULT:?}}
MODEL=$SHARED/reference/tiny-sd15
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL $*"; }

# row LABEL NEEDLE...: the line of `network` LABEL holds every NEEDLE
row() {
    local label=$1
    shift
    local line
    line=$(grep -E "^$label " "$TMP/out.txt")
    for n in "$@"; do
        if ! grep -qF -- "$n" <<<"$line"; then
            bad "$label: \"$n\" not in: $line"
            return
        fi
    done
    ok "$label: $*"
}

if "$WSD_CLI" info --sd15 >"$TMP/out.txt" 2>"$TMP/err.txt"; then
    cat "$TMP/out.txt"
    grep -q "image 512x512, latents 64x64" "$TMP/out.txt" && ok "sd15 default size 512x512" || bad "sd15 default size"
    row "text encoder" "123,060,480" "ids [1,77]"
    row "unet \(CFG\)" "859,520,964" "latents [2,4,64,64]"
    row "vae decoder" "49,490,199" "latents [1,4,64,64]"
    row "vae encoder" "34,163,664" "image [1,3,512,512]"
    row "total" "1,066,235,307"
else
    bad "wsd info --sd15 exited $?: $(cat "$TMP/err.txt")"
fi

if "$WSD_CLI" info --sd15 --width 768 --height 512 >"$TMP/out.txt" 2>"$TMP/err.txt"; then
    row "unet \(CFG\)" "latents [2,4,64,96]"
    row "vae encoder" "image [1,3,512,768]"
else
    bad "wsd info --sd15 --width 768 exited $?"
fi

if "$WSD_CLI" info --model "$MODEL" >"$TMP/out.txt" 2>"$TMP/err.txt"; then
    cat "$TMP/out.txt"
    grep -q "image 128x128" "$TMP/out.txt" && ok "tiny default size from sample_size" || bad "tiny default size"
    row "text encoder" "3,367,104"
    row "unet \(CFG\)" "3,277,988" "latents [2,4,16,16]"
    row "vae decoder" "819,191"
    row "vae encoder" "580,688"
else
    bad "wsd info --model tiny-sd15 exited $?: $(cat "$TMP/err.txt")"
fi

expect() {
    local code=$1 needle=$2
    shift 3
    "$WSD_CLI" "$@" >"$TMP/o.txt" 2>"$TMP/e.txt"
    local rc=$?
    if [ "$rc" -eq "$code" ] && cat "$TMP/e.txt" "$TMP/o.txt" | grep -qF -- "$needle"; then
        ok "wsd $* -> exit $rc, \"$needle\""
    else
        bad "wsd $* -> exit $rc (want $code), output: $(head -c 300 "$TMP/e.txt") (want \"$needle\")"
    fi
}
expect 2 "--width must be a multiple of 8" -- info --sd15 --width 100
expect 2 "--height must be a multiple of 8" -- info --sd15 --height 0
expect 2 "not both" -- info --sd15 --model "$MODEL"
expect 2 "unknown argument \"--bogus\"" -- info --bogus
expect 2 "--model needs a value" -- info --model
expect 1 "$TMP/nope: no such file or directory" -- info --model "$TMP/nope"
expect 0 "usage: wsd info" -- info --help

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
