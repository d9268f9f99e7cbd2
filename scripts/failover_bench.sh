#!/usr/bin/env bash
# Failover times and lost writes per durability policy (issue 19's figures): runs the ignored
# test `reparent_bench::failover_bench` for semi_sync and none, killing the primary's node alone,
# its node with its mysqld (a machine that dies), and its mysqld alone (restarted by its tablet),
# KILLS rounds each (default 10), each round on a fresh shard. Prints every round and a summary per case; keeps them in
# docs/bench/<date>-failover/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
ensure_packages
kills="${KILLS:-10}"
out_dir="$root/docs/bench/$(date -u +%Y-%m-%d)-failover"
mkdir -p "$out_dir"
: >"$out_dir/raw.txt"
for policy in semi_sync none; do
  for kill in node host mysqld; do
    echo "== policy $policy, kill $kill, $kills rounds" | tee -a "$out_dir/raw.txt"
    (cd "$root" && TESSERA_FAILOVER_KILLS="$kills" TESSERA_FAILOVER_POLICY="$policy" TESSERA_FAILOVER_KILL="$kill" \
      cargo nextest run --run-ignored only -E 'test(=reparent_bench::failover_bench)' --no-capture 2>&1) \
      | grep -E "^(round|SUMMARY)" | tee -a "$out_dir/raw.txt"
  done
done
{
  echo "# Failover ($(date -u +%Y-%m-%d), $(nproc) cores, $kills kills per case)"
  echo
  grep SUMMARY "$out_dir/raw.txt" | sed 's/^SUMMARY /- /'
} >"$out_dir/results.md"
cat "$out_dir/results.md"
