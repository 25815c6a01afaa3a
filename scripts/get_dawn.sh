#!/usr/bin/env bash
# Fetches the native WebGPU implementation (Dawn, webgpu.h C API) that the
# WebGPU backend loads at run time: libwebgpu_wrapper.so from the npm package
# bun-webgpu-linux-x64, pinned to 0.1.7 (src/backends/webgpu/wgpu_dawn.h is
# written against exactly that build). The tarball's sha512 is checked against
# the pinned registry integrity before anything is extracted.
#
# Output: third_party/dawn/libwebgpu_wrapper.so (gitignored). Idempotent.
# The engine finds it there (next to the build tree), or through WSD_DAWN_LIB.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=bun-webgpu-linux-x64
VER=0.1.7
INTEGRITY="sha512-UEP7UZdEhx9otvkZczjsszL8ZVlrODANQvgl+C88/bNVmxDoFi7w1fWzGi1sZyakiETjmtFDq2/xCLhbSZxjqw=="
DEST=third_party/dawn
LIB=$DEST/libwebgpu_wrapper.so
STAMP=$DEST/VERSION

if [ -f "$LIB" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKG@$VER $INTEGRITY" ]; then
  echo "get_dawn: $LIB ($PKG@$VER) already present"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "get_dawn: $PKG only ships Linux x86-64; skipping on $(uname -s)-$(uname -m)" >&2; exit 0 ;;
esac
command -v npm >/dev/null || { echo "get_dawn: npm is required (apt-get install npm)" >&2; exit 1; }

mkdir -p "$DEST"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get_dawn: npm pack $PKG@$VER"
(cd "$tmp" && npm pack --silent "$PKG@$VER" >/dev/null)
tgz="$tmp/$PKG-$VER.tgz"
[ -f "$tgz" ] || { echo "get_dawn: npm pack produced no $PKG-$VER.tgz" >&2; exit 1; }

got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "get_dawn: integrity mismatch for $PKG@$VER" >&2
  echo "  expected $INTEGRITY" >&2
  echo "  got      $got" >&2
  exit 1
fi

tar -xzf "$tgz" -C "$tmp" package/libwebgpu_wrapper.so package/package.json
[ -f "$tmp/package/LICENSE" ] || tar -xzf "$tgz" -C "$tmp" --wildcards 'package/LICENSE*' 2>/dev/null || true
install -m 0644 "$tmp/package/libwebgpu_wrapper.so" "$LIB"
cp "$tmp/package/package.json" "$DEST/package.json"
for f in "$tmp"/package/LICENSE*; do [ -f "$f" ] && cp "$f" "$DEST/"; done
echo "$PKG@$VER $INTEGRITY" > "$STAMP"
echo "get_dawn: installed $LIB ($(stat -c %s "$LIB") bytes)"
