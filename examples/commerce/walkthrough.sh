#!/usr/bin/env bash
# The resharding walkthrough (Vitess's commerce example, on tessera):
#   1. keyspace commerce (one shard) holds product, customer and corder;
#   2. MoveTables customer and corder into a new keyspace customer (one shard), while a
#      writer keeps inserting customers through the gateway;
#   3. Reshard customer from 0 into -80 and 80-, again under writes;
#   4. replicas of both new shards on node c, and PlannedReparentShard of both to them, still
#      under writes; then node c is killed and automatic failover makes node b's tablets the
#      primaries again; node c comes back and its old primaries rejoin as replicas.
# Each step prints what it did and how the topology looks afterwards.
#
# Runs on its own NATS and nodes (free ports, a temp dir) and stops them when it ends.
# Needs nats-server, mariadbd and the mariadb client (scripts/up.sh installs them) and a built
# tessera (TESSERA_BIN, default target/debug/tessera; built with cargo if missing).
# KEEP=1 leaves the processes running and prints where they are.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${TESSERA_BIN:-$root/target/debug/tessera}"
if [ ! -x "$bin" ]; then
  echo "building tessera..."
  (cd "$root" && cargo build --quiet)
fi
home="$(mktemp -d "${TMPDIR:-/tmp}/tessera-walkthrough.XXXXXX")"
# A free port below Linux's ephemeral range (32768-60999), where no outgoing connection can
# take it before our server binds it, claimed (file named after it, holding this script's pid)
# in the directory the test harness claims its ports in, so parallel tests never share one.
claims="${TESSERA_PORT_CLAIMS:-${TMPDIR:-/tmp}/tessera-test-ports}"
mkdir -p "$claims" 2>/dev/null || true
port() {
  python3 - "$claims" "$$" <<'PY'
import os, random, socket, sys
claims, owner = sys.argv[1], sys.argv[2]
def held(path):
    try:
        os.kill(int(open(path).read().strip()), 0)
        return True
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
for _ in range(100000):
    p = random.randrange(12000, 28000)
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    path = os.path.join(claims, str(p))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        if held(path):
            continue
        os.remove(path)
        continue
    except OSError:
        print(p)  # no claims directory: the bind check alone
        sys.exit(0)
    os.write(fd, owner.encode())
    os.close(fd)
    print(p)
    sys.exit(0)
sys.exit("no free port in 12000-28000")
PY
}
nats_port=$(port); gw_port=$(port)
nats="nats://127.0.0.1:$nats_port"
pids=()
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "KEEP=1: NATS $nats, gateway 127.0.0.1:$gw_port, state in $home (pids ${pids[*]})"
    return
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$home"
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
ctl() { "$bin" ctl --nats "$nats" --timeout 120 "$@"; }
sql() { mariadb -h127.0.0.1 -P"$gw_port" -uroot --batch "$@"; }
topology() {
  for ks in "$@"; do ctl GetKeyspace "$ks" | sed 's/^/    /'; done
}
wait_serving() {
  local want=$1
  for _ in $(seq 1 300); do
    local n
    n=$(ctl --json GetTablets | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tablets"] if (t.get("health") or {}).get("serving")))' 2>/dev/null || echo 0)
    [ "$n" -ge "$want" ] && return 0
    sleep 0.3
  done
  echo "error: $want tablets did not become serving; see $home/*.log" >&2
  exit 1
}
tablet() { # alias keyspace shard
  printf '[[tablet]]\nalias = "%s"\nkeyspace = "%s"\nshard = "%s"\nmysql_port = %s\n\n' "$1" "$2" "$3" "$(port)"
}
start_node() { # id config
  "$bin" node --nats "$nats" --id "$1" --http "127.0.0.1:$(port)" --config "$2" \
    --data-dir "$home/$1" --mysql-template "$home/template" >"$home/$1.log" 2>&1 &
  pids+=($!)
}

step "Start NATS (JetStream) on $nats"
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$home/nats" >"$home/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.1; done

step "Node a: commerce/0 (zone1-100), customer/0 (zone1-200), the gateway on 127.0.0.1:$gw_port"
{ printf '[gateway]\nlisten = "127.0.0.1:%s"\nauth = "none"\n\n' "$gw_port"
  tablet zone1-100 commerce 0; tablet zone1-200 customer 0; } >"$home/a.toml"
start_node a "$home/a.toml"
wait_serving 2
ctl InitShardPrimary commerce/0 zone1-100
ctl InitShardPrimary customer/0 zone1-200
ctl ApplySchema commerce --sql-file "$root/examples/commerce/schema_commerce.sql" >/dev/null
ctl ApplySchema commerce --sql-file "$root/examples/commerce/schema_customer.sql" >/dev/null
ctl ApplyVSchema commerce --vschema-file "$root/examples/commerce/vschema_commerce_initial.json" >/dev/null
ctl ExecuteFetchAsDba zone1-100 "INSERT INTO customer_seq (id, next_id, cache) VALUES (0, 1000, 100)" >/dev/null
ctl ExecuteFetchAsDba zone1-100 "INSERT INTO order_seq (id, next_id, cache) VALUES (0, 1000, 100)" >/dev/null

step "Load commerce: products, customers and orders, through the gateway"
sql -e "insert into product (sku, description, price) values ('SKU-1001', 'Monitor', 100), ('SKU-1002', 'Keyboard', 30)"
values=""; orders=""
for i in $(seq 1 500); do
  values+="${values:+,}($i, 'user$i@example.com')"
  orders+="${orders:+,}($i, $i, 'SKU-100$((i % 2 + 1))', $((i % 7 * 10 + 30)))"
done
sql -e "insert into customer (customer_id, email) values $values"
sql -e "insert into corder (order_id, customer_id, sku, price) values $orders"
sql -e "select count(*) as customers from customer; select count(*) as orders from corder"
topology commerce customer

# A writer that keeps inserting customers through the gateway during both workflows.
writer() {
  local i=10000 failed=0
  while [ ! -f "$home/stop-writer" ]; do
    i=$((i + 1))
    sql -e "insert into customer (customer_id, email) values ($i, 'live$i@example.com')" 2>>"$home/writer.err" || failed=$((failed + 1))
  done
  echo "$((i - 10000)) $failed" >"$home/writer.out"
}
writer &
writer_pid=$!

step "MoveTables customer, corder: commerce -> customer"
ctl MoveTables --workflow commerce2customer --target-keyspace customer create \
  --source-keyspace commerce --tables customer,corder --wait
step "VDiff: commerce and customer hold the same rows"
ctl VDiff --workflow commerce2customer --target-keyspace customer create --wait
step "SwitchTraffic: reads, then writes (held, not failed, while they switch)"
ctl MoveTables --workflow commerce2customer --target-keyspace customer switchtraffic
step "Complete: stop replication, drop the tables from commerce, remove the routing rules"
ctl MoveTables --workflow commerce2customer --target-keyspace customer complete
sql -e "select count(*) as customers_in_customer from customer.customer"
topology commerce customer

step "Reshard customer: 0 -> -80, 80- (node b hosts the new shards)"
ctl ApplyVSchema customer --vschema-file "$root/examples/commerce/vschema_customer.json" >/dev/null
ctl CreateShard customer/-80 --allow-overlap
ctl CreateShard customer/80- --allow-overlap
{ tablet zone1-300 customer -80; tablet zone1-400 customer 80-; } >"$home/b.toml"
start_node b "$home/b.toml"
wait_serving 4
ctl InitShardPrimary customer/-80 zone1-300
ctl InitShardPrimary customer/80- zone1-400
ctl Reshard --workflow split --target-keyspace customer create --source-shards 0 --target-shards -80,80- --wait
step "VDiff: customer/0 against -80 and 80-"
ctl VDiff --workflow split --target-keyspace customer create --wait
step "SwitchTraffic"
ctl Reshard --workflow split --target-keyspace customer switchtraffic
step "Complete"
ctl Reshard --workflow split --target-keyspace customer complete

step "Replicas of customer/-80 and customer/80- on node c, then PlannedReparentShard to them"
{ tablet zone1-301 customer -80; tablet zone1-401 customer 80-; } >"$home/c.toml"
start_node c "$home/c.toml"
c_pid=${pids[-1]}
wait_serving 6
ctl ReparentTablet zone1-301
ctl ReparentTablet zone1-401
ctl PlannedReparentShard customer/-80 --new-primary zone1-301 | sed 's/^/    /'
ctl PlannedReparentShard customer/80- --new-primary zone1-401 | sed 's/^/    /'
ctl GetTablets --keyspace customer | sed 's/^/    /'
touch "$home/stop-writer"
wait "$writer_pid"
read -r written failed <"$home/writer.out"

step "Kill node c (both primaries): automatic failover promotes node b's tablets"
kill -9 "$c_pid"
for _ in $(seq 1 200); do
  primaries=$(ctl --json GetTablets --keyspace customer | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tablets"] if t.get("primary_term") and t["tablet"]["node_id"] == "b"))' 2>/dev/null || echo 0)
  [ "$primaries" -ge 2 ] && break
  sleep 0.3
done
[ "$primaries" -ge 2 ] || { echo "error: no failover within 60 s; see $home/*.log" >&2; exit 1; }
ctl GetTablets --keyspace customer | sed 's/^/    /'
sql -e "insert into customer.customer (customer_id, email) values (99999, 'after-failover@example.com')"
sql -e "select email from customer.customer where customer_id = 99999"
step "Node c comes back: its old primaries rejoin as replicas"
start_node c "$home/c.toml"
wait_serving 6
ctl GetTablets --keyspace customer | sed 's/^/    /'
step "What happened, as recovery events"
timeout 3 "$bin" events --nats "$nats" --from-start --filter recovery 2>/dev/null | sed 's/^/    /' || true
topology customer
step "Rows per shard, through the gateway"
for shard in -80 80-; do
  sql -e "use customer/$shard; select '$shard' as shard, count(*) as customers from customer; select count(*) as orders from corder"
done
sql -e "use customer; select count(*) as customers from customer; select count(*) as orders from corder"
echo
echo "The writer inserted $written customers during both workflows; $failed inserts failed."
if [ "$failed" -ne 0 ]; then
  echo "error: writes failed during the walkthrough:" >&2
  cat "$home/writer.err" >&2
  exit 1
fi
echo "walkthrough complete"
