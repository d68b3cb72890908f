#!/usr/bin/env bash
# Builds the LDoc reference of the Lua modules (lua/happysim) and the contract (docs/API.md)
# into build/doc/index.html, with Debian's lua-ldoc. Debian's ldoc script asks for Lua 5.1 or
# 5.2; it runs under 5.4 as well, which is what happysim needs anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
hs_require_deps
out=$(lua5.4 /usr/bin/ldoc -c config.ld . 2>&1) || { echo "$out" >&2; exit 1; }
echo "$out" | grep -v "contains no items" || true
[ -s build/doc/index.html ] || { echo "docs.sh: build/doc/index.html was not written" >&2; exit 1; }
echo "reference: build/doc/index.html"
