#!/usr/bin/env bash
# src/tokenizer/unicode_tables.c must be what tools/gen_unicode_tables.py makes
# from the installed Unicode Character Database (Debian's unicode-data).
set -u
src=${WSD_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
ucd=/usr/share/unicode
if [ ! -f "$ucd/UnicodeData.txt" ]; then
  echo "************************************************************************"
  echo "SKIPPED: $ucd/UnicodeData.txt is missing (install Debian's unicode-data)."
  echo "The committed Unicode tables were NOT checked against the UCD."
  echo "************************************************************************"
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "SKIPPED: python3 is missing; the Unicode tables were NOT checked."
  exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
python3 "$src/tools/gen_unicode_tables.py" --ucd "$ucd" --out "$tmp" || exit 1
if diff -q "$src/src/tokenizer/unicode_tables.c" "$tmp" >/dev/null; then
  echo "ok: src/tokenizer/unicode_tables.c matches the UCD in $ucd ($(sed -n 's/.*Database$//;s/^ \* \([0-9.]*\) (Debian.*/\1/p' "$tmp"))"
else
  diff "$src/src/tokenizer/unicode_tables.c" "$tmp" | head -20
  echo "FAIL: src/tokenizer/unicode_tables.c is stale; run: python3 tools/gen_unicode_tables.py"
  exit 1
fi
