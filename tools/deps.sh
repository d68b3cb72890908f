# shellcheck shell=bash
# The Debian packages happysim needs to build and test, checked in one place.
# Sourced by build.sh and test.sh:   . tools/deps.sh && hs_require_deps
#
# hs_require_deps: returns when every package is installed. When some are missing it
# installs them with apt-get if we are root; otherwise it prints the exact
# `sudo apt-get install` line and exits 1.

HS_DEB_PACKAGES=(lua5.4 liblua5.4-dev lua-busted libcmocka-dev cmake gcc pkg-config make
  parallel    # sharded sweeps: tests/lua/check_cli_spec.lua runs 4 shards through GNU parallel
  lua-argparse # the command line of `happysim` (lua/happysim/cli.lua)
  lua-luv     # `happysim check` starts and watches its worker processes (lua/happysim/cli_check.lua)
  lua-readline tmux # line editing in `happysim repl`; tmux drives it in tests/lua/repl_spec.lua
  lua-ldoc    # the reference: tools/docs.sh
  lua-cjson librsvg2-bin) # tests/lua/trace_spec.lua decodes traces and renders diagrams

# Prints the packages of the list that are not installed, space-separated.
hs_missing_packages() {
  local missing=() p
  for p in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != "installed" ]; then
      missing+=("$p")
    fi
  done
  echo "${missing[*]}"
}

hs_require_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "note: not a Debian system; make sure these (or your system's equivalents) are installed:" >&2
    echo "  ${HS_DEB_PACKAGES[*]}" >&2
    return 0
  fi
  local missing
  missing=$(hs_missing_packages "${HS_DEB_PACKAGES[@]}")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing missing Debian packages: $missing"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
    missing=$(hs_missing_packages "${HS_DEB_PACKAGES[@]}")
    if [ -n "$missing" ]; then
      echo "error: still missing after apt-get install: $missing" >&2
      exit 1
    fi
  else
    echo "happysim needs these Debian packages, which are not installed: $missing" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
  fi
}
