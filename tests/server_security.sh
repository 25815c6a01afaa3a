#!/usr/bin/env bash
# Security of the app server that `make run` starts (web/server.mjs): binds
# 127.0.0.1 only, no path traversal, CSP without unsafe-eval on every
# response, no strings evaluated as code in web/. Checks in
# tests/web/server_security.mjs; needs only node (no browser).
set -euo pipefail
src=${WSD_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v node >/dev/null || { echo "server_security: FAIL: node not found"; exit 1; }
exec node "$src/tests/web/server_security.mjs" --root "$src"
