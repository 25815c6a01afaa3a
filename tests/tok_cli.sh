#!/usr/bin/env bash
# `wsd tokenize`: ids as one JSON array on one line, 77 ids unless --no-pad,
# a diffusers model folder or a tokenizer folder, stdin, and clean errors.
set -u
cli=${WSD_CLI:?WSD_CLI must name the wsd binary}
shared=${WSD_SHARED:-${WSD_SHARED_DEFAULT:-$(dirname "$0")/../../shared}}
model=$shared/reference/tiny-sd15
fails=0
check() { # name, expected, actual
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fails=$((fails+1)); fi
}

pad=""; for _ in $(seq 70); do pad="$pad, 49407"; done
want="[49406, 320, 1125, 539, 320, 2368, 49407$pad]"
check "padded, diffusers folder" "$want" "$("$cli" tokenize --model "$model" "a photo of a cat" 2>/dev/null)"
check "padded, tokenizer folder" "$want" "$("$cli" tokenize --model "$model/tokenizer" "a photo of a cat" 2>/dev/null)"
check "one line" "1" "$("$cli" tokenize --model "$model" "a photo of a cat" 2>/dev/null | wc -l | tr -d ' ')"
check "--no-pad" "[49406, 320, 1125, 539, 320, 2368, 49407]" \
  "$("$cli" tokenize --no-pad --model "$model" "a photo of a cat" 2>/dev/null)"
check "--no-pad before the model" "[49406, 49407]" "$("$cli" tokenize --no-pad --model "$model" "" 2>/dev/null)"
check "stdin" "[49406, 320, 1125, 539, 320, 2368, 49407]" \
  "$(printf 'A PHOTO\tOF  A CAT\n' | "$cli" tokenize --no-pad --model "$model" - 2>/dev/null)"

long=$(for _ in $(seq 80); do printf 'a '; done)
out=$("$cli" tokenize --no-pad --model "$model" "$long" 2>/dev/null)
check "--no-pad truncates to 75" "77" "$(echo "$out" | tr ',' '\n' | wc -l | tr -d ' ')"
out=$("$cli" tokenize --no-truncate --model "$model" "$long" 2>/dev/null)
check "--no-truncate keeps all 80" "82" "$(echo "$out" | tr ',' '\n' | wc -l | tr -d ' ')"

printf 'ab\xffcd' | "$cli" tokenize --model "$model" - >/dev/null 2>/tmp/tok_cli_err.$$
rc=$?
check "invalid UTF-8 exit code" "1" "$rc"
check "invalid UTF-8 message" "yes" "$(grep -q 'invalid UTF-8 at byte offset 2' /tmp/tok_cli_err.$$ && echo yes || cat /tmp/tok_cli_err.$$)"
rm -f /tmp/tok_cli_err.$$

"$cli" tokenize --model /nonexistent "x" >/dev/null 2>&1
check "missing model exit code" "1" "$?"
"$cli" tokenize --model "$model" >/dev/null 2>&1
check "no TEXT is a usage error" "2" "$?"
"$cli" tokenize --bogus "x" >/dev/null 2>&1
check "unknown option is a usage error" "2" "$?"
"$cli" tokenize --help | grep -q "usage: wsd tokenize"
check "--help" "0" "$?"

[ $fails -eq 0 ] && echo "tok_cli: all passed" || echo "tok_cli: $fails failed"
exit $((fails > 0))
