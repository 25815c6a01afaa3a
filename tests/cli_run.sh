#!/bin/bash
# `wsd run` through the CLI for the text encoder and the VAE (decoder and
# encoder), plus its usage errors. The UNet path, with --debug, is covered by
# test_cli_run.c; that test binary also writes the inputs and compares the
# outputs here, since the shell has no safetensors reader.
set -u
: "${WSD_CLI:?WSD_CLI must point at the wsd binary}"
: "${WSD_BINARY_DIR:?}"
SHARED=${WSD_SHARED:-${WSD_SHARED_DEFAULT:?}}
MODEL=$SHARED/reference/tiny-sd15
GOLD=$SHARED/reference/golden
HELPER=$WSD_BINARY_DIR/tests/test_cli_run
TMP=$WSD_BINARY_DIR/test-tmp/cli_run.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

fails=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL $*"; }

# expect CODE NEEDLE -- ARGS...: wsd exits with CODE and prints NEEDLE (stderr or stdout)
expect() {
    local code=$1 needle=$2
    shift 3
    "$WSD_CLI" "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
    local rc=$?
    if [ "$rc" -eq "$code" ] && cat "$TMP/err.txt" "$TMP/out.txt" | grep -qF -- "$needle"; then
        ok "wsd $* -> exit $rc, \"$needle\""
    else
        bad "wsd $* -> exit $rc (want $code), stderr: $(head -c 300 "$TMP/err.txt") (want \"$needle\")"
    fi
}

if [ ! -x "$HELPER" ]; then
    echo "missing $HELPER (build the tests)"
    exit 1
fi
"$HELPER" make-inputs "$TMP" || { echo "FAIL cannot write the inputs"; exit 1; }

# text encoder straight on the golden file (it holds input_ids under that name)
if "$WSD_CLI" run text_encoder --model "$MODEL" --in "$GOLD/text_encoder.safetensors" --out "$TMP/te.safetensors"; then
    ok "wsd run text_encoder"
    "$HELPER" names "$TMP/te.safetensors" last_hidden_state && ok "text_encoder writes last_hidden_state only" || bad "text_encoder output names"
    "$HELPER" compare "$TMP/te.safetensors" last_hidden_state "$GOLD/text_encoder.safetensors" last_hidden_state && ok "text_encoder matches the golden" || bad "text_encoder values"
else
    bad "wsd run text_encoder exited $?"
fi

# --debug adds the per-layer hidden states
if "$WSD_CLI" run text_encoder --debug --model "$MODEL" --in "$TMP/te_in.safetensors" --out "$TMP/te_dbg.safetensors"; then
    "$HELPER" names "$TMP/te_dbg.safetensors" last_hidden_state embeddings_token hidden_states.0 hidden_states.1 hidden_states.2 hidden_states.3 hidden_states.4 \
        && ok "text_encoder --debug writes the intermediates" || bad "text_encoder --debug output names"
else
    bad "wsd run text_encoder --debug exited $?"
fi

# VAE decoder and encoder
if "$WSD_CLI" run vae_decoder --model "$MODEL" --in "$TMP/vae_dec_in.safetensors" --out "$TMP/dec.safetensors"; then
    "$HELPER" names "$TMP/dec.safetensors" image && ok "vae_decoder writes image" || bad "vae_decoder output names"
    "$HELPER" compare "$TMP/dec.safetensors" image "$GOLD/vae.safetensors" dec_output && ok "vae_decoder matches the golden" || bad "vae_decoder values"
else
    bad "wsd run vae_decoder exited $?"
fi
if "$WSD_CLI" run vae_encoder --model "$MODEL" --in "$TMP/vae_enc_in.safetensors" --out "$TMP/enc.safetensors"; then
    "$HELPER" names "$TMP/enc.safetensors" mean logvar && ok "vae_encoder writes mean and logvar" || bad "vae_encoder output names"
    "$HELPER" compare "$TMP/enc.safetensors" mean "$GOLD/vae.safetensors" enc_mean && ok "vae_encoder mean matches" || bad "vae_encoder mean"
    "$HELPER" compare "$TMP/enc.safetensors" logvar "$GOLD/vae.safetensors" enc_logvar && ok "vae_encoder logvar matches" || bad "vae_encoder logvar"
else
    bad "wsd run vae_encoder exited $?"
fi

# usage errors: exit 2 with a message naming the problem
expect 2 "no component" -- run
expect 2 "unknown component \"vae\"" -- run vae --model "$MODEL" --in x --out y
expect 2 "--model" -- run unet --in x --out y
expect 2 "--in" -- run unet --model "$MODEL" --out y
expect 2 "unknown option \"--bogus\"" -- run unet --bogus
expect 2 "unknown backend \"metal\"" -- run unet --model "$MODEL" --in x --out y --backend metal
expect 2 "--threads" -- run unet --model "$MODEL" --in x --out y --threads many
expect 2 "--out needs a value" -- run unet --model "$MODEL" --in x --out
# failures: exit 1, naming the file / tensor
expect 1 "$TMP/nope: no such file or directory" -- run text_encoder --model "$TMP/nope" --in x --out y
expect 1 "$TMP/missing.safetensors" -- run text_encoder --model "$MODEL" --in "$TMP/missing.safetensors" --out "$TMP/y.safetensors"
expect 1 "missing input tensor \"latents\"" -- run vae_decoder --model "$MODEL" --in "$GOLD/text_encoder.safetensors" --out "$TMP/y.safetensors"
expect 1 "missing input tensor \"image\"" -- run vae_encoder --model "$MODEL" --in "$TMP/vae_dec_in.safetensors" --out "$TMP/y.safetensors"
expect 1 "input_ids" -- run text_encoder --model "$MODEL" --in "$TMP/vae_dec_in.safetensors" --out "$TMP/y.safetensors"
expect 1 "$MODEL" -- run unet --model "$MODEL/unet" --in "$TMP/unet_in.safetensors" --out "$TMP/y.safetensors"
expect 0 "usage: wsd run" -- run --help

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
