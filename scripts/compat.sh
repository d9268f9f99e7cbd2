#!/usr/bin/env bash
# The application-compatibility suite: real clients, each with its defaults, against a tessera
# cluster of its own (an unsharded keyspace `commerce` and a sharded keyspace `customer`).
#
#   bash scripts/compat.sh [python|node|java|cli|dump ...]     (default: all of them)
#
# Installs what a fresh Debian 12 machine lacks (apt: libmariadb-dev, pkg-config,
# libmariadb-java, a JDK, nodejs/npm, python3-venv, the MariaDB clients; pip into
# ${XDG_CACHE_HOME:-$HOME/.cache}/tessera-compat/venv; `npm ci` in compat/node), builds tessera
# (skipped when TESSERA_BIN names a binary), starts `tessera up` on free ports in a temporary
# directory (stopped on exit), adds the suite's tables and VSchemas (compat/schema/), runs every
# case and prints a table: client, case, PASS/FAIL, first error line. Exits 1 if any case failed.
#
# Clients connect to a transparent proxy in front of the gateway (compat/wirelog.py) that
# records every statement and error, so each failure is reported with the statement the client
# sent; COMPAT_WIRE_LOG=0 connects them to the gateway directly.
#
# Environment:
#   TESSERA_BIN        a tessera binary to use instead of building one
#   COMPAT_OUT         where results, the wire log, the node's log and summary.md are kept
#                      (default ${XDG_CACHE_HOME:-$HOME/.cache}/tessera-compat/last)
#   COMPAT_KEEP=1      leave the cluster running at the end (prints how to stop it)
#   COMPAT_CASE_TIMEOUT  seconds one client's file may run (default 300)
#   COMPAT_PROBE=1     diagnostics, not a verdict: the proxy papers over what the gateway refuses
#                      (announces the tablets' MariaDB version, answers refused SETs with OK,
#                      runs refused SELECT/SHOW/DESCRIBE on a primary tablet itself), so clients
#                      get further and the summary lists the statements they send later too
#                      (results in ${XDG_CACHE_HOME:-$HOME/.cache}/tessera-compat/probe)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMPAT="$ROOT/compat"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tessera-compat"
VENV="$CACHE/venv"
if [ "${COMPAT_PROBE:-0}" = 1 ]; then OUT="${COMPAT_OUT:-$CACHE/probe}"; else OUT="${COMPAT_OUT:-$CACHE/last}"; fi
CASE_TIMEOUT="${COMPAT_CASE_TIMEOUT:-300}"
SUITES=("$@")
if [ ${#SUITES[@]} -eq 0 ]; then SUITES=(python node java cli dump); fi
want() { local s; for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'compat: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------- installs
sudo_() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }

ensure_debian_packages() {
  local need=()
  command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v mariadb-dump >/dev/null 2>&1 || need+=(mariadb-client)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  dpkg -s libmariadb-dev >/dev/null 2>&1 || need+=(libmariadb-dev)
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  command -v cc >/dev/null 2>&1 || need+=(gcc)
  dpkg -s python3-dev >/dev/null 2>&1 || python3 -c 'import sysconfig,os,sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' || need+=(python3-dev)
  [ -f /usr/share/java/mariadb-java-client.jar ] || need+=(libmariadb-java)
  command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    sudo_ apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
  fi
}

ensure_venv() {
  local req="$COMPAT/python/requirements.txt" stamp="$VENV/.requirements.sha256" sum
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return 0; fi
  log "installing the Python clients into $VENV"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv failed"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null || die "pip upgrade failed"
  "$VENV/bin/pip" install -q -r "$req" || die "pip install -r $req failed"
  echo "$sum" >"$stamp"
}

ensure_node_modules() {
  local stamp="$COMPAT/node/node_modules/.package-lock.sha256" sum
  sum="$(sha256sum "$COMPAT/node/package-lock.json" | cut -d' ' -f1)"
  if [ -d "$COMPAT/node/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return 0; fi
  log "npm ci in compat/node"
  (cd "$COMPAT/node" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  echo "$sum" >"$stamp"
}

build_java() {
  JAVA_CLASSES="$CACHE/java-classes"
  mkdir -p "$JAVA_CLASSES"
  javac -d "$JAVA_CLASSES" -cp /usr/share/java/mariadb-java-client.jar "$COMPAT/java/Compat.java"
}

# ---------------------------------------------------------------- cluster
free_port_base() {
  # a base port P such that P..P+11 are all free on 127.0.0.1
  python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
rnd = random.Random()
for _ in range(200):
    base = rnd.randrange(30000, 39000)
    if all(free(base + i) for i in range(12)):
        print(base); break
else:
    raise SystemExit("no free ports")
EOF
}

HOME_DIR=""
PROXY_PID=""
# pids of the processes whose command line names this cluster's directory
cluster_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$HOME_DIR/" && echo "${p#/proc/}"
  done | tr '\n' ' '
}
cleanup() {
  local rc=$?
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; fi
  if [ -n "$HOME_DIR" ] && [ -d "$HOME_DIR" ]; then
    cp "$HOME_DIR/node.log" "$OUT/node.log" 2>/dev/null
    if [ "${COMPAT_KEEP:-0}" = 1 ]; then
      log "cluster left running: $TESSERA_BIN down --home $HOME_DIR   (gateway 127.0.0.1:$GATEWAY_PORT)"
    else
      "$TESSERA_BIN" down --home "$HOME_DIR" >/dev/null 2>&1
      # whatever still runs from this cluster's directory (a node `down` did not recognise,
      # its MariaDB servers) is ours: stop it by pid before the directory goes
      local pids i
      for i in $(seq 60); do
        pids="$(cluster_pids)"
        [ -z "$pids" ] && break
        [ "$i" = 1 ] && kill $pids 2>/dev/null
        [ "$i" = 45 ] && kill -9 $pids 2>/dev/null
        sleep 0.5
      done
      if [ -n "$(cluster_pids)" ]; then
        log "processes of $HOME_DIR still run ($(cluster_pids)); left it in place"
      else
        rm -rf "$HOME_DIR"
      fi
    fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { TESSERA_HOME="$HOME_DIR" "$TESSERA_BIN" ctl --nats "nats://127.0.0.1:$NATS_PORT" --timeout 120 "$@"; }

merge_vschema() {
  # the keyspace's current VSchema (the example's tables) plus the suite's
  local ks="$1" add="$2" cur
  cur="$(ctl GetVSchema "$ks")" || return 1
  python3 -c '
import json, sys
cur = json.loads(sys.argv[1] or "{}")
add = json.load(open(sys.argv[2]))
for key in ("vindexes", "tables"):
    cur.setdefault(key, {}).update(add.get(key, {}))
if add.get("sharded"):
    cur["sharded"] = True
print(json.dumps(cur, indent=2))
' "$cur" "$add"
}

setup_cluster() {
  local base
  base="$(free_port_base)" || die "no free ports"
  NATS_PORT=$base; HTTP_PORT=$((base + 1)); GATEWAY_PORT=$((base + 2)); PROXY_PORT=$((base + 3))
  MYSQL_BASE=$((base + 4))
  HOME_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tessera-compat.XXXXXX")"
  log "tessera up in $HOME_DIR (nats $NATS_PORT, http $HTTP_PORT, gateway $GATEWAY_PORT, mysql $MYSQL_BASE-$((MYSQL_BASE + 6)))"
  "$TESSERA_BIN" up --home "$HOME_DIR" --nats-port "$NATS_PORT" --http-port "$HTTP_PORT" \
    --mysql-base-port "$MYSQL_BASE" --gateway-port "$GATEWAY_PORT" >"$OUT/up.log" 2>&1 \
    || { cat "$OUT/up.log" >&2; die "tessera up failed (see $HOME_DIR/node.log)"; }

  log "adding the suite's tables (compat/schema/)"
  ctl ApplySchema commerce --sql-file "$COMPAT/schema/commerce.sql" >/dev/null || die "ApplySchema commerce failed"
  # seeded through the gateway before the VSchema makes them sequences
  mariadb -h127.0.0.1 -P"$GATEWAY_PORT" -uroot commerce <"$COMPAT/schema/seed_commerce.sql" || die "seeding the sequences failed"
  ctl ApplySchema customer --sql-file "$COMPAT/schema/customer.sql" >/dev/null || die "ApplySchema customer failed"
  local ks
  for ks in commerce customer; do
    merge_vschema "$ks" "$COMPAT/schema/vschema_$ks.json" >"$OUT/vschema_$ks.json" || die "GetVSchema $ks failed"
    ctl ApplyVSchema "$ks" --vschema-file "$OUT/vschema_$ks.json" >/dev/null || die "ApplyVSchema $ks failed"
  done

  CLIENT_PORT=$GATEWAY_PORT
  local probe=()
  if [ "${COMPAT_PROBE:-0}" = 1 ]; then
    local t100="$HOME_DIR/tablets/zone1-0000000100/mysqld.sock" t200="$HOME_DIR/tablets/zone1-0000000200/mysqld.sock" v
    v="$(mariadb -S "$t100" -uroot -N -e 'SELECT VERSION()')" || die "cannot ask the tablet its version"
    probe=(--probe --probe-version "5.5.5-$v" --probe-tablet "commerce=$t100" --probe-tablet "customer=$t200")
    log "PROBE MODE: refusals papered over by the proxy; the table below is no verdict"
  fi
  if [ "${COMPAT_WIRE_LOG:-1}" != 0 ] || [ ${#probe[@]} -gt 0 ]; then
    "$VENV/bin/python" "$COMPAT/wirelog.py" --listen "127.0.0.1:$PROXY_PORT" "${probe[@]}" \
      --upstream "127.0.0.1:$GATEWAY_PORT" --log "$OUT/wire.jsonl" 2>>"$OUT/wirelog.stderr" &
    PROXY_PID=$!
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && break
      sleep 0.1
    done
    CLIENT_PORT=$PROXY_PORT
  fi
  export TESSERA_HOST=127.0.0.1 TESSERA_PORT=$CLIENT_PORT TESSERA_GATEWAY_PORT=$GATEWAY_PORT
  export TESSERA_UNSHARDED=commerce TESSERA_SHARDED=customer TESSERA_USER=root TESSERA_PASSWORD=
  export TESSERA_NATS="nats://127.0.0.1:$NATS_PORT"
}

# ---------------------------------------------------------------- running cases
# A file that ended without recording a case (crashed, timed out, failed to load) still shows
# up in the table, as a failure of the whole file.
note_file_failure() {
  local client="$1" case="$2" msg="$3" start="$4"
  python3 -c '
import json, sys, time
rec = {"client": sys.argv[1], "case": sys.argv[2], "status": "FAIL", "error": sys.argv[3],
       "start": float(sys.argv[4]), "end": time.time(), "detail": ""}
open(sys.argv[5], "a").write(json.dumps(rec) + "\n")
' "$client" "$case" "$msg" "$start" "$COMPAT_RESULTS"
}

recorded_since() { python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    if json.loads(line)["start"] >= float(sys.argv[2]) - 0.001:
        n += 1
print(n)' "$COMPAT_RESULTS" "$1"; }

run_one() {
  # run_one CLIENT-LABEL LOGNAME command...
  local label="$1" name="$2"; shift 2
  local start rc
  start="$(date +%s.%N)"
  log "$label"
  timeout --kill-after=10 "$CASE_TIMEOUT" "$@" >"$OUT/logs/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    note_file_failure "$label" "(whole file)" "timed out after ${CASE_TIMEOUT}s" "$start"
  elif [ $rc -ne 0 ] && [ "$(recorded_since "$start")" = 0 ]; then
    note_file_failure "$label" "(whole file)" "exit $rc, no case ran: $(grep -m1 -E 'Error|error' "$OUT/logs/$name.log" | cut -c1-300)" "$start"
  fi
}

run_python() {
  local f
  for f in test_pymysql test_mysqlclient test_mysql_connector test_aiomysql test_sqlalchemy test_alembic test_django; do
    run_one "$f.py" "$f" env -C "$COMPAT/python" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rN "$f.py"
  done
}

run_cli() {
  run_one "test_cli.py" test_cli env -C "$COMPAT/python" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rN test_cli.py
}

run_dump() {
  run_one "test_dump.py" test_dump env -C "$COMPAT/python" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rN test_dump.py
}

run_node() {
  local f
  for f in mysql2 knex sequelize; do
    run_one "node $f" "node_$f" env -C "$COMPAT/node" node --test --test-reporter=./reporter.mjs "test/$f.test.mjs"
  done
}

run_java() {
  local start
  start="$(date +%s.%N)"
  if ! build_java >"$OUT/logs/javac.log" 2>&1; then
    note_file_failure "MariaDB Connector/J" "(compile)" "javac failed: $(head -1 "$OUT/logs/javac.log")" "$start"
    return
  fi
  run_one "MariaDB Connector/J" java java -cp "$JAVA_CLASSES:/usr/share/java/mariadb-java-client.jar" Compat
}

# ---------------------------------------------------------------- main
mkdir -p "$CACHE"
rm -rf "$OUT"
mkdir -p "$OUT/logs"
export COMPAT_RESULTS="$OUT/results.jsonl"
: >"$COMPAT_RESULTS"

ensure_debian_packages
ensure_venv
if want node; then ensure_node_modules; fi

if [ -z "${TESSERA_BIN:-}" ]; then
  log "cargo build --bin tessera"
  (cd "$ROOT" && cargo build --bin tessera) || die "cargo build failed"
  TESSERA_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"
fi
[ -x "$TESSERA_BIN" ] || die "no tessera binary at $TESSERA_BIN"
TESSERA_BIN="$(cd "$(dirname "$TESSERA_BIN")" && pwd)/$(basename "$TESSERA_BIN")"

T0=$(date +%s)
setup_cluster
want python && run_python
want node && run_node
want java && run_java
want cli && run_cli
want dump && run_dump   # last: it rewrites whole keyspaces

log "done in $(( $(date +%s) - T0 ))s; results in $OUT"
"$VENV/bin/python" "$COMPAT/summary.py" --results "$COMPAT_RESULTS" --wire "$OUT/wire.jsonl" --markdown "$OUT/summary.md"
