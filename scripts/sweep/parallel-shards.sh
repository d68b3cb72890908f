#!/usr/bin/env bash
# A seed sweep in shards with GNU parallel (Debian package `parallel`): on this machine, or
# on several hosts over ssh, then one summary from the shards' --json files.
#
#   scripts/sweep/parallel-shards.sh SCRIPT SEEDS SHARDS [SSHLOGIN]
#     SCRIPT    a scenario, e.g. scripts/raft_linearizable.lua
#     SEEDS     the --seeds list, e.g. 1..1000000
#     SHARDS    how many shards (each is `happysim check ... --shard K/SHARDS`)
#     SSHLOGIN  optional, GNU parallel's --sshlogin list, e.g. '2/alice@host1,2/host2,:'
#               (N/ is how many shards a host runs at once; ':' is this machine). Each host
#               needs this checkout, built, at the same path ($PWD here), and ssh access
#               without a password; results come back with --return.
#
# Each shard runs with --jobs 1: GNU parallel decides how many shards run at once per host
# (by default one per CPU). The shard files land in sweep-out/; the summary is what one
# `happysim check SCRIPT --seeds SEEDS` would print, and so is the exit status.
set -euo pipefail
cd "$(dirname "$0")/../.."
script=${1:?usage: parallel-shards.sh SCRIPT SEEDS SHARDS [SSHLOGIN]}
seeds=${2:?usage: parallel-shards.sh SCRIPT SEEDS SHARDS [SSHLOGIN]}
shards=${3:?usage: parallel-shards.sh SCRIPT SEEDS SHARDS [SSHLOGIN]}
prog=${HAPPYSIM:-build/bin/happysim}
mkdir -p sweep-out
remote=()
if [ -n "${4:-}" ]; then
  remote=(--sshlogin "$4" --workdir "$PWD" --return "sweep-out/shard{}.jsonl" --cleanup)
fi
# GNU parallel exits with the number of shards that had a failing seed: the summary decides.
parallel --will-cite --line-buffer "${remote[@]}" \
  "$prog" check "$script" --seeds "$seeds" --shard "{}/$shards" --jobs 1 --json "sweep-out/shard{}.jsonl" \
  ">/dev/null" ::: $(seq 1 "$shards") || true
exec "$prog" check --merge sweep-out/shard*.jsonl
