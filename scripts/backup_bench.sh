#!/usr/bin/env bash
# Backup and restore throughput of one shard of about MB megabytes (default 1024), on this
# machine (issue 18's measurement), next to `mariadb-backup --backup` + copy alone and
# `mariadb-dump`, and how long a new replica takes from start to serving.
#
# One node hosts bench/0: a primary and a replica. The primary gets a table of MB megabytes;
# then, timed from the command to its answer:
#   - BackupShard (replica) with the mariabackup and the builtin engine into `file` storage;
#   - RestoreFromBackup of the replica from the mariabackup backup;
#   - a new replica on a second node with --restore-from-backup, until it serves;
#   - the node restarted with `nats` storage (its JetStream object store), and with `s3`
#     storage when moto_server is installed (scripts/test.sh installs it): BackupShard and
#     RestoreFromBackup again;
#   - `mariadb-backup --backup` into a directory plus `cp -r` of it, and `mariadb-dump
#     --single-transaction` of the database, on the replica's server.
# Prints a table (MB/s against the InnoDB data size) and keeps the raw output in
# docs/bench/<date>-backup/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
ensure_packages
mb_target="${MB:-1024}"
(cd "$root" && cargo build --release --quiet)
bin="${CARGO_TARGET_DIR:-$root/target}/release/tessera"
home="$(mktemp -d "${TMPDIR:-/tmp}/tessera-backupbench.XXXXXX")"
out_dir="$root/docs/bench/$(date -u +%Y-%m-%d)-backup"
mkdir -p "$out_dir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(port); p100=$(port); p101=$(port); p102=$(port); s3_port=$(port)
nats="nats://127.0.0.1:$nats_port"
pids=()
node_pid=""
cleanup() {
  for pid in "${pids[@]}" $node_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}" $node_pid; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for sock in "$home"/tablets*/*/mysqld.sock; do
    [ -S "$sock" ] && mariadb-admin --socket="$sock" -uroot shutdown 2>/dev/null || true
  done
  rm -rf "$home"
}
trap cleanup EXIT
ctl() { "$bin" ctl --nats "$nats" --timeout 7200 "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 1))"; }
rate() { python3 -c "print(round($1 / ($3 - $2), 1))"; }
serving() {
  ctl --json GetTablets 2>/dev/null | python3 -c "import json,sys; print(sum(1 for t in json.load(sys.stdin)['tablets'] if t['tablet']['alias'] in '$1'.split(',') and (t.get('health') or {}).get('serving')))" 2>/dev/null || echo 0
}
wait_serving() { # aliases (comma-separated) count
  for _ in $(seq 1 3000); do [ "$(serving "$1")" -ge "$2" ] && return 0; sleep 0.2; done
  echo "tablets $1 did not serve" >&2; return 1
}

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$home/nats" >"$home/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.1; done

tablets="
[[tablet]]
alias = \"zone1-100\"
keyspace = \"bench\"
shard = \"0\"
mysql_port = $p100
buffer_pool_mb = 256

[[tablet]]
alias = \"zone1-101\"
keyspace = \"bench\"
shard = \"0\"
mysql_port = $p101
buffer_pool_mb = 256
"
start_node() { # backup section
  printf '%s\n%s\n' "$1" "$tablets" >"$home/node.toml"
  "$bin" node --nats "$nats" --id bench --http "127.0.0.1:$(port)" --config "$home/node.toml" \
    --data-dir "$home/tablets" --mysql-template "$home/template" >>"$home/node.log" 2>&1 &
  node_pid=$!
  wait_serving zone1-0000000100,zone1-0000000101 2
}
stop_node() {
  kill "$node_pid"; for _ in $(seq 1 300); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
  node_pid=""
}

start_node "[backup]
dir = \"$home/backups\""
ctl InitShardPrimary bench/0 zone1-100 >/dev/null
primary() { mariadb --socket="$home/tablets/zone1-0000000100/mysqld.sock" -uroot bench "$@"; }
replica() { mariadb --socket="$home/tablets/zone1-0000000101/mysqld.sock" -uroot bench "$@"; }

rows=$((mb_target * 1024 * 1024 / 1100))
echo "loading about $mb_target MB ($rows rows) into bench/0..."
primary -e "CREATE TABLE big (id BIGINT PRIMARY KEY, k INT NOT NULL, pad VARCHAR(1024) NOT NULL, KEY k (k)) ENGINE=InnoDB"
chunk=100000
for ((from = 1; from <= rows; from += chunk)); do
  to=$((from + chunk - 1)); [ "$to" -gt "$rows" ] && to=$rows
  # Half random hex, half repeated: compresses about 3x, like real rows (all-repeated text
  # would make zstd look 25x faster than the disk).
  primary -e "INSERT INTO big SELECT seq, seq * 7919 % 100000, CONCAT(HEX(RANDOM_BYTES(256)), REPEAT(MD5(seq), 16)) FROM seq_${from}_to_${to}"
done
target_pos=$(primary -N -e "SELECT @@gtid_binlog_pos")
for _ in $(seq 1 3000); do
  [ "$(replica -N -e "SELECT @@gtid_slave_pos")" = "$target_pos" ] && break; sleep 0.2
done
bytes=$(replica -N -e "SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = 'bench' AND table_name = 'big'")
mb=$(python3 -c "print(round($bytes / 1048576, 1))")
echo "bench/0: $mb MB of InnoDB data and indexes"

results=()
backup() { # label engine
  local t0 t1 out
  t0=$(now); out=$(ctl BackupShard bench/0 --engine "$2" --concurrency 2); t1=$(now)
  echo "$out" >>"$out_dir/raw.txt"
  local stored
  stored=$(ctl --json GetBackups bench/0 --limit 1 | python3 -c 'import json,sys; m=json.load(sys.stdin)["backups"][0]["manifest"]; print(round(sum(f["stored_size"] for f in m["files"]) / 1048576, 1))')
  results+=("$1|$(secs "$t0" "$t1")|$(rate "$mb" "$t0" "$t1")|$stored MB stored")
}
restore() { # label
  local t0 t1
  t0=$(now); ctl RestoreFromBackup zone1-101 --backup-name "$(latest mariabackup)" >>"$out_dir/raw.txt"
  wait_serving zone1-0000000101 1; t1=$(now)
  results+=("$1|$(secs "$t0" "$t1")|$(rate "$mb" "$t0" "$t1")|until serving again")
}
latest() { # engine
  ctl --json GetBackups bench/0 | python3 -c "import json,sys; print(next(b['name'] for b in json.load(sys.stdin)['backups'] if b['manifest'] and b['manifest']['engine'] == '$1'))"
}

backup "BackupShard, mariabackup, file storage" mariabackup
backup "BackupShard, builtin, file storage" builtin
wait_serving zone1-0000000101 1
restore "RestoreFromBackup, mariabackup backup, file storage"

# A new replica on a second node, from the newest backup.
printf '[backup]\ndir = "%s"\n' "$home/backups" >"$home/node2.toml"
t0=$(now)
"$bin" node --nats "$nats" --id bench2 --http "127.0.0.1:$(port)" --config "$home/node2.toml" \
  --data-dir "$home/tablets2" --mysql-template "$home/template" --restore-from-backup \
  --tablet "zone1-102:bench/0:replica:$p102" >"$home/node2.log" 2>&1 &
node2_pid=$!
pids+=($node2_pid)
wait_serving zone1-0000000102 1
t1=$(now)
results+=("new replica (--restore-from-backup) from start to serving|$(secs "$t0" "$t1")|$(rate "$mb" "$t0" "$t1")|restore, replication, catch-up")
# The second node keeps file storage: stopped, so GetBackups below reads the storage under test.
kill "$node2_pid"
for _ in $(seq 1 300); do kill -0 "$node2_pid" 2>/dev/null || break; sleep 0.1; done

# The same with the cluster's NATS object store.
stop_node
start_node "[backup]
storage = \"nats\""
backup "BackupShard, mariabackup, nats storage" mariabackup
restore "RestoreFromBackup, nats storage"

moto="$(s3_test_server 2>/dev/null || true)"
if [ -n "$moto" ]; then
  "$moto" -H 127.0.0.1 -p "$s3_port" >"$home/moto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break; sleep 0.2; done
  curl -s -X PUT "http://127.0.0.1:$s3_port/bench-backups" >/dev/null
  stop_node
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
  start_node "[backup]
storage = \"s3\"
bucket = \"bench-backups\"
endpoint = \"http://127.0.0.1:$s3_port\""
  backup "BackupShard, mariabackup, s3 storage (moto on loopback)" mariabackup
  restore "RestoreFromBackup, s3 storage (moto on loopback)"
fi

# The tools alone, on the replica's server.
dba_pw=$(python3 -c "import json; print(json.load(open('$home/tablets/mysql-credentials.json'))['dba']['password'])")
printf '[client]\nuser=tessera_dba\npassword=%s\n' "$dba_pw" >"$home/dba.cnf"; chmod 600 "$home/dba.cnf"
t0=$(now)
mariadb-backup --defaults-extra-file="$home/dba.cnf" --backup --target-dir="$home/mb" \
  --host=127.0.0.1 --port="$p101" --parallel=2 >"$home/mb.log" 2>&1
cp -r "$home/mb" "$home/mb-copy"
t1=$(now)
results+=("mariadb-backup --backup + cp -r (no compression, no checksums)|$(secs "$t0" "$t1")|$(rate "$mb" "$t0" "$t1")|$(du -sm "$home/mb" | cut -f1) MB copied")
t0=$(now)
mariadb-dump --defaults-extra-file="$home/dba.cnf" -h127.0.0.1 -P"$p101" --single-transaction bench >"$home/dump.sql"
t1=$(now)
results+=("mariadb-dump --single-transaction|$(secs "$t0" "$t1")|$(rate "$mb" "$t0" "$t1")|$(du -sm "$home/dump.sql" | cut -f1) MB of SQL")

{
  echo "bench/0: $mb MB of InnoDB data and indexes ($rows rows); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| operation | seconds | MB/s | notes |"
  echo "|---|---|---|---|"
  for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
} | tee "$out_dir/results.md"
