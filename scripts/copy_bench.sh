#!/usr/bin/env bash
# VReplication copy rate against dump-and-load, on this machine (issue 7's measurement).
#
# One node hosts two tablets: bench/0 (the source) and benchcopy/0 (the target). The source
# gets a sysbench-shaped table of ROWS rows (default 1,000,000); then
#   - MoveTables copies it into benchcopy (once per writer count in WRITERS, default "1 2 4"),
#     timed from `create` until the stream replicates, Cancel in between;
#   - `mariadb-dump --single-transaction | mariadb` copies the same table into a new database on
#     the target's server, timed the same way.
# Prints rows/s and MB/s (InnoDB data length of the source table) and keeps the raw output in
# docs/bench/<date>-copy/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
ensure_packages
rows="${ROWS:-1000000}"
writers_list="${WRITERS:-1 2 4}"
(cd "$root" && cargo build --release --quiet)
bin="${CARGO_TARGET_DIR:-$root/target}/release/tessera"
home="$(mktemp -d "${TMPDIR:-/tmp}/tessera-copybench.XXXXXX")"
out_dir="$root/docs/bench/$(date -u +%Y-%m-%d)-copy"
mkdir -p "$out_dir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(port); src_port=$(port); dst_port=$(port)
nats="nats://127.0.0.1:$nats_port"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$home"
}
trap cleanup EXIT
ctl() { "$bin" ctl --nats "$nats" --timeout 600 "$@"; }
now() { date +%s.%N; }

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$home/nats" >"$home/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.1; done
cat >"$home/node.toml" <<EOF
[[tablet]]
alias = "zone1-100"
keyspace = "bench"
shard = "0"
mysql_port = $src_port
buffer_pool_mb = 512

[[tablet]]
alias = "zone1-200"
keyspace = "benchcopy"
shard = "0"
mysql_port = $dst_port
buffer_pool_mb = 512
EOF
"$bin" node --nats "$nats" --id bench --http "127.0.0.1:$(port)" --config "$home/node.toml" \
  --data-dir "$home/tablets" --mysql-template "$home/template" >"$home/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  n=$(ctl --json GetTablets 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tablets"] if (t.get("health") or {}).get("serving")))' 2>/dev/null || echo 0)
  [ "$n" -ge 2 ] && break
  sleep 0.3
done
ctl InitShardPrimary bench/0 zone1-100 >/dev/null
ctl InitShardPrimary benchcopy/0 zone1-200 >/dev/null
# root logs in by the unix socket only (tessera takes its TCP login away).
src_sock="$home/tablets/zone1-0000000100/mysqld.sock"
dst_sock="$home/tablets/zone1-0000000200/mysqld.sock"
src() { mariadb --socket="$src_sock" -uroot bench "$@"; }
dst() { mariadb --socket="$dst_sock" -uroot "$@"; }

echo "loading $rows rows into bench/0..."
src -e "CREATE TABLE sbtest1 (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB"
src -e "INSERT INTO sbtest1 (k, c, pad) SELECT seq * 7919 % $rows, CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), LEFT(MD5(seq + 3), 24)), CONCAT(MD5(seq * 3), LEFT(MD5(seq * 5), 28)) FROM seq_1_to_$rows"
bytes=$(src -N -e "SELECT data_length FROM information_schema.tables WHERE table_schema = 'bench' AND table_name = 'sbtest1'")
mb=$(python3 -c "print(round($bytes / 1048576, 1))")
echo "source table: $rows rows, $mb MB of InnoDB data"

results=()
for w in $writers_list; do
  t0=$(now)
  ctl MoveTables --workflow copy --target-keyspace benchcopy create --source-keyspace bench --tables sbtest1 \
    --writers "$w" --readers 1 --wait >"$out_dir/movetables-writers$w.txt"
  t1=$(now)
  copied=$(dst -N -e "SELECT COUNT(*) FROM benchcopy.sbtest1")
  [ "$copied" = "$rows" ] || { echo "error: copied $copied of $rows rows" >&2; exit 1; }
  secs=$(python3 -c "print(round($t1 - $t0, 2))")
  results+=("MoveTables copy, $w writers|$secs|$(python3 -c "print(round($rows / ($t1 - $t0)))")|$(python3 -c "print(round($mb / ($t1 - $t0), 1))")")
  ctl MoveTables --workflow copy --target-keyspace benchcopy cancel >>"$out_dir/movetables-writers$w.txt"
done

dst -e "DROP DATABASE IF EXISTS dumptest; CREATE DATABASE dumptest"
t0=$(now)
mariadb-dump --socket="$src_sock" -uroot --single-transaction bench sbtest1 | dst dumptest
t1=$(now)
copied=$(dst -N -e "SELECT COUNT(*) FROM dumptest.sbtest1")
[ "$copied" = "$rows" ] || { echo "error: dump-and-load copied $copied of $rows rows" >&2; exit 1; }
results+=("mariadb-dump piped into mariadb|$(python3 -c "print(round($t1 - $t0, 2))")|$(python3 -c "print(round($rows / ($t1 - $t0)))")|$(python3 -c "print(round($mb / ($t1 - $t0), 1))")")

{
  echo "copy of $rows rows ($mb MB), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| method | seconds | rows/s | MB/s |"
  echo "|---|---:|---:|---:|"
  for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
} | tee "$out_dir/summary.md"
