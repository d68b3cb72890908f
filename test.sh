#!/usr/bin/env bash
# Quick start, step 2: check the Debian packages (as build.sh does), build, and run every
# test with ctest: the cmocka tests (tests/c) and the busted specs (tests/lua).
#   ./test.sh              build into build/
#   ./test.sh --sanitize   build into build-asan/ with -DHS_SANITIZE=ON (AddressSanitizer + UBSan)
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh

dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
case "${1:-}" in
  "") ;;
  --sanitize)
    dir=build-asan
    flags+=(-DHS_SANITIZE=ON) ;;
  -h | --help)
    echo "Usage: ./test.sh [--sanitize]"
    exit 0 ;;
  *)
    echo "test.sh: unknown argument '$1' (usage: ./test.sh [--sanitize])" >&2
    exit 2 ;;
esac

hs_require_deps
cmake -S . -B "$dir" "${flags[@]}"
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure
