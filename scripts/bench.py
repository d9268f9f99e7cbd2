#!/usr/bin/env python3
"""tessera vs direct MariaDB, measured side by side with sysbench.

Brings up a bench cluster under ./bench-data (NATS, a node with two tablets -- shards -80 and
80- of keyspace `bench`, hash vindex on id -- and a separate node running only the gateway), and
one plain MariaDB with the same settings. Loads the same sysbench tables into both, then runs
each workload x threads x protocol against both targets in alternating rounds, and prints QPS,
p95 latency, the gateway/direct ratio, and CPU seconds per 1000 queries of every process (from
/proc). Raw sysbench outputs and the summary go to bench-data/results/<time>/.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("TESSERA_BIN", str(ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "release" / "tessera"))
HOME = ROOT / "bench-data"
NATS_PORT, GW_PORT, T1_PORT, T2_PORT, DIRECT_PORT, GW_B_PORT, SPIDER_PORT = 14900, 15906, 18100, 18101, 18200, 15907, 18300
NATS = f"nats://127.0.0.1:{NATS_PORT}"
CLK = os.sysconf("SC_CLK_TCK")
procs = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def spawn(args, logname, **kw):
    f = open(HOME / logname, "w")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p


def ctl(*args, check=True):
    r = subprocess.run([BIN, "ctl", "--nats", NATS, "--timeout", "120", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"ctl {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def wait(what, check, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        if check():
            return
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLK


def mariadbd_pids(path_part):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if "mariadbd" in cmd and path_part in cmd:
                out.append(int(d))
    return out


def mysql(port, db, sql):
    r = subprocess.run(["mariadb", "-h127.0.0.1", f"-P{port}", "-uroot", db, "-e", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"mariadb -P{port}: {r.stderr}")
    return r.stdout


def start_direct(buffer_mb, name="direct", port=DIRECT_PORT):
    d = HOME / name
    (d / "binlog").mkdir(parents=True)
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={d}/data", "--auth-root-authentication-method=normal",
                    "--skip-test-db", "--user=root", "--innodb-log-file-size=16M"], check=True, capture_output=True)
    # The tablets' settings (see src/mysqld/cnf.rs), without read_only.
    (d / "my.cnf").write_text(f"""[mariadbd]
datadir={d}/data
port={port}
bind-address=127.0.0.1
socket={d}/mysqld.sock
pid-file={d}/mysqld.pid
log-error={d}/error.log
server-id=1
log-bin={d}/binlog/mysql-bin
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
log_slave_updates=ON
gtid_strict_mode=ON
skip-name-resolve
innodb_buffer_pool_size={buffer_mb}M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
sync_binlog=0
performance_schema=OFF
max_connections=500
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
user=root
""")
    spawn(["/usr/sbin/mariadbd", f"--defaults-file={d}/my.cnf"], f"{name}.log")
    wait(f"{name} MariaDB", lambda: subprocess.run(["mariadb", "-h127.0.0.1", f"-P{port}", "-uroot", "-e", "select 1"],
                                                    capture_output=True).returncode == 0)
    mysql(port, "", "create database sbtest")


def copy_rows(port, db, through):
    """The direct server's sysbench rows into `db` on `port` (`mariadb-dump | mariadb`)."""
    dump = subprocess.Popen(["mariadb-dump", "-h127.0.0.1", f"-P{DIRECT_PORT}", "-uroot", "--no-create-info", "--complete-insert",
                             "--skip-lock-tables", "--skip-add-locks", "--skip-disable-keys", "--compact", "--skip-tz-utc",
                             "--net-buffer-length=200000", "sbtest"], stdout=subprocess.PIPE)
    load = subprocess.run(["mariadb", "-h127.0.0.1", f"-P{port}", "-uroot", db], stdin=dump.stdout, capture_output=True, text=True)
    dump.wait()
    if load.returncode != 0:
        raise SystemExit(f"loading through {through} failed: {load.stderr}")


def start_spider(args):
    """MariaDB's own sharding engine as the peer: a Spider head node whose sbtest tables are
    partitioned (HASH(id), two partitions) over the same two backend servers as the tablets
    (the tablets' MariaDBs, database `spider_be`), tuned as its documentation recommends for
    OLTP through one head (connections kept per session, no semi-transactions). Rows are
    loaded through the head, so each backend holds its partition."""
    sql = "CREATE USER IF NOT EXISTS spider@'127.0.0.1' IDENTIFIED BY 'spider'; " \
          "GRANT ALL ON spider_be.* TO spider@'127.0.0.1'; CREATE DATABASE IF NOT EXISTS spider_be"
    ddl = [f"CREATE TABLE spider_be.sbtest{i} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', "
           f"pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_{i} (k))" for i in range(1, args.tables + 1)]
    for alias in ("zone1-200", "zone1-300"):
        for stmt in sql.split("; ") + ddl:
            ctl("ExecuteFetchAsDba", alias, stmt)
    start_direct(64, name="spider", port=SPIDER_PORT)
    mysql(SPIDER_PORT, "", "INSTALL SONAME 'ha_spider'")
    mysql(SPIDER_PORT, "", "SET GLOBAL spider_conn_recycle_mode = 1; SET GLOBAL spider_semi_trx = 0")
    for n, port in (("be1", T1_PORT), ("be2", T2_PORT)):
        mysql(SPIDER_PORT, "", f"CREATE SERVER {n} FOREIGN DATA WRAPPER mysql OPTIONS (HOST '127.0.0.1', "
                               f"DATABASE 'spider_be', USER 'spider', PASSWORD 'spider', PORT {port})")
    for i in range(1, args.tables + 1):
        mysql(SPIDER_PORT, "sbtest", f"CREATE TABLE sbtest{i} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, "
                                     f"c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), "
                                     f"KEY k_{i} (k)) ENGINE=SPIDER COMMENT='wrapper \"mysql\", table \"sbtest{i}\"' "
                                     f"PARTITION BY HASH (id) (PARTITION p1 COMMENT = 'srv \"be1\"', "
                                     f"PARTITION p2 COMMENT = 'srv \"be2\"')")


def sysbench(port, db, workload, threads, mode, seconds, args, extra=()):
    cmd = ["sysbench", workload, "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}", "--mysql-user=root",
           "--mysql-password=", f"--mysql-db={db}", f"--tables={args.tables}", f"--table-size={args.table_size}",
           f"--threads={threads}", f"--time={seconds}", f"--db-ps-mode={mode}", "--percentile=95", "--histogram=on",
           *(extra or ["--mysql-ignore-errors=none"]), "run"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def parse(out):
    """(queries, QPS, p95 ms, p50 ms); p50 from sysbench's latency histogram."""
    qps = p95 = queries = None
    hist = []
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("queries:"):
            queries = int(s.split()[1])
            qps = float(s.split("(")[1].split()[0])
        if s.startswith("95th percentile:"):
            p95 = float(s.split()[-1])
        parts = s.split("|")
        if len(parts) == 2:
            try:
                value, count = float(parts[0]), int(parts[1].split()[-1])
                hist.append((value, count))
            except (ValueError, IndexError):
                pass
    p50 = None
    total = sum(c for _, c in hist)
    seen = 0
    for value, count in sorted(hist):
        seen += count
        if total and seen * 2 >= total:
            p50 = value
            break
    return queries, qps, p95, p50


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 s runs, one round, 10k rows")
    ap.add_argument("--time", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--table-size", type=int, default=100000)
    ap.add_argument("--threads", default="1,8,32")
    ap.add_argument("--workloads", default="oltp_point_select,oltp_read_only,oltp_read_write,oltp_insert")
    ap.add_argument("--modes", default="disable,auto")
    ap.add_argument("--nats-server", default=os.environ.get("TESSERA_NATS_SERVER", "nats-server"),
                    help="the nats-server binary (Debian's 2.9 by default; scripts/lib.sh current_nats_server gives 2.15)")
    ap.add_argument("--b-worker-threads", metavar="N", type=int,
                    help="A/B: also run a gateway node of the same binary with N runtime worker threads "
                         "(TESSERA_WORKER_THREADS), measured in the same alternating rounds")
    ap.add_argument("--b-lanes", metavar="N", type=int,
                    help="A/B: also run a gateway node of the same binary whose sessions run on N single-threaded "
                         "lanes (TESSERA_GATEWAY_LANES), measured in the same alternating rounds")
    ap.add_argument("--b-env", metavar="KEY=VALUE", action="append", default=[],
                    help="A/B: also run a gateway node of the same binary with this environment variable set "
                         "(repeatable; e.g. TESSERA_FORWARD_ROWS=0), measured in the same alternating rounds")
    ap.add_argument("--gateway-worker-threads", metavar="N", type=int, help="runtime worker threads of gateway A")
    ap.add_argument("--tablet-lanes", metavar="N", type=int,
                    help="serve the tablets' queries from N lanes (TESSERA_TABLET_LANES); compare against a run without")
    ap.add_argument("--gateway-lanes", metavar="N", type=int, help="gateway A's sessions on N lanes (TESSERA_GATEWAY_LANES)")
    ap.add_argument("--tablet-worker-threads", metavar="N", type=int, help="runtime worker threads of the tablet node")
    ap.add_argument("--no-spider", action="store_true", help="skip the Spider column (MariaDB's sharding engine)")
    ap.add_argument("--hold", action="store_true", help="set up and load, then keep the cluster up until interrupted")
    ap.add_argument("--gateway-b", metavar="BIN",
                    help="A/B: also run a gateway node from this binary (same NATS and tablets) and measure it "
                         "in the same alternating rounds")
    ap.add_argument("--b-transaction-mode", metavar="MODE",
                    help="A/B: also run a gateway node of the same binary whose sessions start in this "
                         "transaction_mode (single, multi, twopc), measured in the same alternating rounds")
    args = ap.parse_args()
    if args.quick:
        args.time, args.rounds, args.table_size = 5, 1, 10000
    if HOME.exists():
        shutil.rmtree(HOME)
    (HOME / "tablets").mkdir(parents=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = HOME / "results" / stamp
    out_dir.mkdir(parents=True)
    try:
        run(args, out_dir)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        for pid in mariadbd_pids(str(HOME)):
            os.kill(pid, signal.SIGKILL)


def run(args, out_dir):
    version = subprocess.run([args.nats_server, "--version"], capture_output=True, text=True).stdout.strip()
    log(f"bench: {BIN}, state in {HOME}, {version}")
    # As `tessera up` does: NATS shares the machine, so Go gets half the cores (GOMAXPROCS overrides).
    procs = os.environ.get("GOMAXPROCS", str(max(1, (os.cpu_count() or 2) // 2)))
    nats = spawn([args.nats_server, "-js", "-a", "127.0.0.1", "-p", str(NATS_PORT), "-sd", str(HOME / "nats")], "nats.log",
                 env={**os.environ, "GOMAXPROCS": procs})
    time.sleep(0.5)
    buffer_mb = max(64, args.tables * args.table_size * 300 // (1 << 20))
    cfg = HOME / "tablets.toml"
    cfg.write_text(f"""data_dir = "{HOME / 'tablets'}"
[[tablet]]
alias = "zone1-200"
keyspace = "bench"
shard = "-80"
mysql_port = {T1_PORT}
pool_size = 64
buffer_pool_mb = {buffer_mb // 2}
[[tablet]]
alias = "zone1-300"
keyspace = "bench"
shard = "80-"
mysql_port = {T2_PORT}
pool_size = 64
buffer_pool_mb = {buffer_mb // 2}
""")
    def node_env(workers):
        env = {**os.environ, "RUST_LOG": "warn"}
        if workers:
            env["TESSERA_WORKER_THREADS"] = str(workers)
        return env
    env_t = node_env(args.tablet_worker_threads)
    if args.tablet_lanes:
        env_t["TESSERA_TABLET_LANES"] = str(args.tablet_lanes)
    tablets = spawn([BIN, "node", "--nats", NATS, "--id", "bench-tablets", "--http", "127.0.0.1:15901", "--config", str(cfg)],
                    "tablets-node.log", env=env_t)
    env_g = node_env(args.gateway_worker_threads)
    if args.gateway_lanes:
        env_g["TESSERA_GATEWAY_LANES"] = str(args.gateway_lanes)
    gateway = spawn([BIN, "node", "--nats", NATS, "--id", "bench-gateway", "--http", "127.0.0.1:15902",
                     "--gateway", f"127.0.0.1:{GW_PORT}", "--auth", "none"], "gateway-node.log", env=env_g)

    gateway_b = None
    if args.gateway_b:
        gateway_b = spawn([args.gateway_b, "node", "--nats", NATS, "--id", "bench-gateway-b", "--http", "127.0.0.1:15903",
                           "--gateway", f"127.0.0.1:{GW_B_PORT}", "--auth", "none"], "gateway-b-node.log",
                          env={**os.environ, "RUST_LOG": "warn"})
    elif args.b_worker_threads or args.b_lanes or args.b_env:
        env_b = node_env(args.b_worker_threads)
        if args.b_lanes:
            env_b["TESSERA_GATEWAY_LANES"] = str(args.b_lanes)
        for kv in args.b_env:
            key, _, value = kv.partition("=")
            env_b[key] = value
        gateway_b = spawn([BIN, "node", "--nats", NATS, "--id", "bench-gateway-b", "--http", "127.0.0.1:15903",
                           "--gateway", f"127.0.0.1:{GW_B_PORT}", "--auth", "none"], "gateway-b-node.log", env=env_b)
    elif args.b_transaction_mode:
        cfg_b = HOME / "gateway-b.toml"
        cfg_b.write_text(f'role = "gateway"\n[gateway]\nlisten = "127.0.0.1:{GW_B_PORT}"\nauth = "none"\n'
                         f'transaction_mode = "{args.b_transaction_mode}"\n')
        gateway_b = spawn([BIN, "node", "--nats", NATS, "--id", "bench-gateway-b", "--http", "127.0.0.1:15903",
                           "--config", str(cfg_b)], "gateway-b-node.log", env={**os.environ, "RUST_LOG": "warn"})

    def serving():
        r = subprocess.run([BIN, "ctl", "--nats", NATS, "--json", "GetTablets"], capture_output=True, text=True)
        try:
            return sum(1 for t in json.loads(r.stdout)["tablets"] if (t.get("health") or {}).get("serving")) == 2
        except (ValueError, KeyError):
            return False
    wait("two serving tablets", serving)
    ctl("InitShardPrimary", "bench/-80", "zone1-200")
    ctl("InitShardPrimary", "bench/80-", "zone1-300")
    ddl = ";".join(f"CREATE TABLE sbtest{i} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', "
                   f"pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_{i} (k))" for i in range(1, args.tables + 1))
    ctl("ApplySchema", "bench", "--sql", ddl)
    vs = {"sharded": True, "vindexes": {"hash": {"type": "hash"}},
          "tables": {f"sbtest{i}": {"column_vindexes": [{"column": "id", "name": "hash"}]} for i in range(1, args.tables + 1)}}
    ctl("ApplyVSchema", "bench", "--vschema", json.dumps(vs))
    wait("gateway", lambda: subprocess.run(["mariadb", "-h127.0.0.1", f"-P{GW_PORT}", "-uroot", "-e", "select 1"],
                                           capture_output=True).returncode == 0)

    start_direct(buffer_mb)
    log(f"loading {args.tables} x {args.table_size} rows into direct MariaDB (sysbench prepare)")
    subprocess.run(["sysbench", "oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={DIRECT_PORT}",
                    "--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest", f"--tables={args.tables}",
                    f"--table-size={args.table_size}", "prepare"], check=True, capture_output=True)
    log("copying the same rows into the sharded keyspace through the gateway")
    t0 = time.time()
    copy_rows(GW_PORT, "bench", "the gateway")
    rows = sum(int(mysql(GW_PORT, "bench", f"select id from sbtest{i} where id = 1").count("\n") > 1) for i in range(1, args.tables + 1))
    log(f"loaded in {time.time() - t0:.1f}s ({rows}/{args.tables} tables answer id 1)")
    if not args.no_spider:
        log("setting up Spider over the tablets' two MariaDB servers and loading the same rows through it")
        start_spider(args)
        copy_rows(SPIDER_PORT, "sbtest", "Spider")
        counts = [mysql(SPIDER_PORT, "sbtest", f"select count(*) from sbtest{i}").split()[-1] for i in range(1, args.tables + 1)]
        log(f"Spider tables hold {counts} rows")

    if args.hold:
        log(f"holding: gateway 127.0.0.1:{GW_PORT} (bench), direct 127.0.0.1:{DIRECT_PORT} (sbtest), "
            f"Spider 127.0.0.1:{SPIDER_PORT} (sbtest), "
            f"tablets {T1_PORT}/{T2_PORT} (bench), NATS {NATS}; pids gateway {gateway.pid} tablets {tablets.pid} "
            f"nats {nats.pid}; Ctrl-C ends")
        def stop(*_):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return
    pids = {
        "gateway": [gateway.pid],
        "tablet node": [tablets.pid],
        "nats": [nats.pid],
        "tablet mariadbd": mariadbd_pids(str(HOME / "tablets")),
        "direct mariadbd": mariadbd_pids(str(HOME / "direct")),
    }
    targets = [("gateway", GW_PORT, "bench"), ("direct", DIRECT_PORT, "sbtest")]
    if not args.no_spider:
        pids["spider mariadbd"] = mariadbd_pids(str(HOME / "spider"))
        targets.append(("spider", SPIDER_PORT, "sbtest"))
    if gateway_b:
        pids["gateway b"] = [gateway_b.pid]
        targets.insert(1, ("gateway-b", GW_B_PORT, "bench"))
        wait("gateway b", lambda: subprocess.run(["mariadb", "-h127.0.0.1", f"-P{GW_B_PORT}", "-uroot", "-e", "select 1"],
                                                 capture_output=True).returncode == 0)
    rows_out = []
    for workload in args.workloads.split(","):
        # Random explicit ids (the gateway routes by id); sysbench's random ids can collide.
        extra = ["--auto_inc=off", "--mysql-ignore-errors=1062"] if workload == "oltp_insert" else []
        if workload == "oltp_read_write":
            # A deadlock (InnoDB's, or a cycle across shards the gateway broke) or a lock wait
            # timeout ends that transaction, and sysbench retries it (its own default), for
            # every target alike: applications retry these.
            extra = ["--mysql-ignore-errors=1213,1205"]
        for threads in [int(t) for t in args.threads.split(",")]:
            for mode in args.modes.split(","):
                res = {t[0]: [] for t in targets}
                for rnd in range(args.rounds):
                    # Every other round in reverse order, so neither side always runs first.
                    for target, port, db in (targets if rnd % 2 == 0 else targets[::-1]):
                        spin = []
                        if threads == 1:
                            # Keep both CPUs awake so 1-thread latency is not wake-up latency.
                            spin = [subprocess.Popen(["nice", "-n", "19", "python3", "-c", "while True: pass"]) for _ in range(2)]
                        before = {k: cpu_seconds(v) for k, v in pids.items()}
                        code, text = sysbench(port, db, workload, threads, mode, args.time, args, extra)
                        after = {k: cpu_seconds(v) for k, v in pids.items()}
                        for s in spin:
                            s.kill()
                        name = f"{workload}-t{threads}-{'text' if mode == 'disable' else 'prepared'}-{target}-r{rnd}.txt"
                        (out_dir / name).write_text(text)
                        queries, qps, p95, p50 = parse(text)
                        if code != 0 or not queries:
                            first_err = next((l for l in text.splitlines() if "FATAL" in l or "error" in l.lower()), "failed")
                            res[target].append({"error": first_err.strip()[:160]})
                            continue
                        cpu = {k: (after[k] - before[k]) * 1e6 / queries for k in pids}  # CPU ms per 1000 queries
                        res[target].append({"qps": qps, "p95": p95, "p50": p50, "cpu": cpu})
                        log(f"{workload} t={threads} {mode} {target}: {qps:.0f} qps, p50 {p50} ms, p95 {p95} ms")
                rows_out.append((workload, threads, mode, res))
    summary = render(rows_out, args)
    if gateway_b:
        summary += "\n" + render_ab(rows_out, args)
    (out_dir / "summary.md").write_text(summary)
    print(summary)
    log(f"raw results: {out_dir}")


def avg(xs):
    return sum(xs) / len(xs) if xs else None


def render(rows, args):
    nats_version = subprocess.run([args.nats_server, "--version"], capture_output=True, text=True).stdout.strip()
    lines = [f"sysbench {args.tables} tables x {args.table_size} rows, {args.time} s x {args.rounds} rounds per cell, A/B alternating, "
             f"{nats_version}",
             "",
             "| workload | threads | protocol | gateway QPS | direct QPS | ratio | gateway p50 ms | direct p50 ms | "
             "added p50 µs | gateway p95 ms | direct p95 ms | "
             "CPU ms/1000q: gateway | tablet node | NATS | tablet MariaDB | direct MariaDB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload, threads, mode, res in rows:
        proto = "text" if mode == "disable" else "prepared"
        g = [r for r in res["gateway"] if "qps" in r]
        d = [r for r in res["direct"] if "qps" in r]
        if not g:
            err = next((r["error"] for r in res["gateway"] if "error" in r), "no result")
            dq = f"{avg([r['qps'] for r in d]):.0f}" if d else "-"
            lines.append(f"| {workload} | {threads} | {proto} | error: {err} | {dq} | - | - | - | - | - | - | - | - | - | - | - |")
            continue
        gq, dq = avg([r["qps"] for r in g]), avg([r["qps"] for r in d]) if d else None
        gp, dp = avg([r["p95"] for r in g]), avg([r["p95"] for r in d]) if d else None
        g50 = avg([r["p50"] for r in g if r.get("p50") is not None])
        d50 = avg([r["p50"] for r in d if r.get("p50") is not None]) if d else None
        p50s = (f"{g50:.3f} | {d50:.3f} | {(g50 - d50) * 1000:.0f}" if g50 is not None and d50 is not None
                else f"{g50 if g50 is not None else '-'} | - | -")
        c = {k: avg([r["cpu"][k] for r in g]) for k in g[0]["cpu"]}
        dc = avg([r["cpu"]["direct mariadbd"] for r in d]) if d else None
        ratio = f"{gq / dq:.2f}" if dq else "-"
        lines.append(f"| {workload} | {threads} | {proto} | {gq:.0f} | {dq:.0f} | {ratio} | {p50s} | {gp:.2f} | {dp:.2f} | "
                     f"{c['gateway']:.1f} | {c['tablet node']:.1f} | {c['nats']:.1f} | {c['tablet mariadbd']:.1f} | {dc:.1f} |"
                     if dq else f"| {workload} | {threads} | {proto} | {gq:.0f} | - | - | {p50s} | {gp:.2f} | - | - | - | - | - | - |")
    if any("spider" in res for _, _, _, res in rows):
        lines += ["", "The peer: MariaDB's Spider engine over the same two backend servers, same rows, same rounds", "",
                  "| workload | threads | protocol | gateway QPS | Spider QPS | direct QPS | gateway/Spider | Spider/direct | "
                  "gateway p50 ms | Spider p50 ms | CPU ms/1000q: Spider head | backends (Spider) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for workload, threads, mode, res in rows:
            proto = "text" if mode == "disable" else "prepared"
            g = [r for r in res["gateway"] if "qps" in r]
            sp = [r for r in res.get("spider", []) if "qps" in r]
            d = [r for r in res["direct"] if "qps" in r]
            if not sp:
                err = next((r["error"] for r in res.get("spider", []) if "error" in r), "no result")
                lines.append(f"| {workload} | {threads} | {proto} | - | error: {err} | - | - | - | - | - | - | - |")
                continue
            gq = avg([r["qps"] for r in g]) if g else None
            sq = avg([r["qps"] for r in sp])
            dq = avg([r["qps"] for r in d]) if d else None
            g50 = avg([r["p50"] for r in g if r.get("p50") is not None]) if g else None
            s50 = avg([r["p50"] for r in sp if r.get("p50") is not None])
            head = avg([r["cpu"]["spider mariadbd"] for r in sp])
            backends = avg([r["cpu"]["tablet mariadbd"] for r in sp])
            fmt = lambda v, f: format(v, f) if v is not None else "-"
            lines.append(f"| {workload} | {threads} | {proto} | {fmt(gq, '.0f')} | {sq:.0f} | {fmt(dq, '.0f')} | "
                         f"{fmt(gq / sq if gq else None, '.2f')} | {fmt(sq / dq if dq else None, '.2f')} | "
                         f"{fmt(g50, '.3f')} | {fmt(s50, '.3f')} | {head:.1f} | {backends:.1f} |")
    return "\n".join(lines) + "\n"


def render_ab(rows, args):
    """Gateway A (TESSERA_BIN) against gateway B (--gateway-b), same tablets, same rounds."""
    if args.gateway_b:
        b_name = args.gateway_b
    elif args.b_env:
        b_name = f"{BIN} with {' '.join(args.b_env)}"
    elif args.b_lanes:
        b_name = f"{BIN} with {args.b_lanes} gateway lanes"
    elif args.b_worker_threads:
        b_name = f"{BIN} with {args.b_worker_threads} worker threads"
    else:
        b_name = f"{BIN} with transaction_mode = {args.b_transaction_mode}"
    lines = [f"A/B: gateway A = {BIN}, gateway B = {b_name} (tablets from A)", "",
             "| workload | threads | protocol | A QPS | B QPS | A/B | A p50 ms | B p50 ms | A p95 ms | B p95 ms | "
             "A gateway CPU ms/1000q | B gateway CPU ms/1000q |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload, threads, mode, res in rows:
        proto = "text" if mode == "disable" else "prepared"
        a = [r for r in res.get("gateway", []) if "qps" in r]
        b = [r for r in res.get("gateway-b", []) if "qps" in r]
        if not a or not b:
            lines.append(f"| {workload} | {threads} | {proto} | {'ok' if a else 'error'} | {'ok' if b else 'error'} |"
                         " - | - | - | - | - | - | - |")
            continue
        aq, bq = avg([r["qps"] for r in a]), avg([r["qps"] for r in b])
        a50 = avg([r["p50"] for r in a if r.get("p50") is not None]) or 0
        b50 = avg([r["p50"] for r in b if r.get("p50") is not None]) or 0
        ac, bc = avg([r["cpu"]["gateway"] for r in a]), avg([r["cpu"]["gateway b"] for r in b])
        lines.append(f"| {workload} | {threads} | {proto} | {aq:.0f} | {bq:.0f} | {aq / bq:.3f} | {a50:.3f} | {b50:.3f} | "
                     f"{avg([r['p95'] for r in a]):.2f} | {avg([r['p95'] for r in b]):.2f} | {ac:.1f} | {bc:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
