#!/usr/bin/env bash
# Quick start, step 1: make sure the Debian packages are there (installing them when
# run as root, otherwise printing the apt-get line), build into build/, and run the
# flagship scenario with build/bin/happysim.
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh

case "${1:-}" in
  "") ;;
  -h | --help)
    echo "Usage: ./build.sh    (installs missing packages as root, builds into build/, runs scripts/raft_lab.lua)"
    exit 0 ;;
  *)
    echo "build.sh: unknown argument '$1' (try --help)" >&2
    exit 2 ;;
esac

hs_require_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
echo
echo "==> build/bin/happysim run scripts/raft_lab.lua"
build/bin/happysim run scripts/raft_lab.lua
