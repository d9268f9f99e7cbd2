#!/usr/bin/env bash
# Two-phase commit's cost and the cross-shard deadlock detector's effect (issue 22's figures):
# runs the ignored test `twopc_bench::twopc_bench` (SECS seconds per case, default 20) and keeps
# its results in docs/bench/<date>-twopc/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
ensure_packages
out_dir="$root/docs/bench/$(date -u +%Y-%m-%d)-twopc"
mkdir -p "$out_dir"
(cd "$root" && TESSERA_TWOPC_SECS="${SECS:-20}" \
  cargo nextest run --run-ignored only -E 'test(=twopc_bench::twopc_bench)' --no-capture 2>&1) \
  | grep -E "^RESULT" | tee "$out_dir/results.txt"
