#!/usr/bin/env bash
# Sweeps scripts/raft_linearizable.lua over many seeds and prints the seeds passed and
# failed (and, for failures, the failed check, its message and the replay command).
#
#   scripts/sweep_raft_linearizable.sh [SEEDS] [JOBS] [-- MORE happysim check OPTIONS]
#     SEEDS  how many seeds, 1..SEEDS (default 10000)
#     JOBS   worker processes (default: the number of CPUs)
#   e.g. scripts/sweep_raft_linearizable.sh 10000 2 -- --json sweep.jsonl
#
# 10,000 seeds take about 12 minutes with 2 jobs on the 2-core reference machine. Exits
# as happysim check does: 0 when every seed passes, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-10000}
jobs=${2:-$(nproc 2>/dev/null || echo 1)}
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
prog=${HAPPYSIM:-build/bin/happysim}
if [ ! -x "$prog" ]; then
  echo "sweep: $prog not found: build first (./build.sh or ./test.sh), or set HAPPYSIM" >&2
  exit 2
fi
exec "$prog" check scripts/raft_linearizable.lua --seeds "1..$seeds" --jobs "$jobs" "$@"
