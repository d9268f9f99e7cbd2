"""The MariaDB command-line tools through the gateway, with their defaults: `mariadb-admin
status`, `KILL QUERY` of a running statement from a second connection, the session list, the
statements people type into the `mariadb` CLI, and the server's one identity."""

import os
import re
import subprocess
import threading
import time

import pymysql
import pytest

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER

CLIENT = "mariadb CLI tools"


def cli(tool, *args, db=None, stdin=None, timeout=60):
    cmd = [tool, "-h", HOST, "-P", str(PORT), "-u", USER]
    if PASSWORD:
        cmd.append("-p" + PASSWORD)
    cmd += list(args)
    if db:
        cmd.append(db)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)


def check(proc):
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise AssertionError("exit %d: %s" % (proc.returncode, " | ".join(l for l in err if l.strip() and not l.startswith("---"))))
    return proc.stdout


def connect(db):
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=db, autocommit=True)


def test_mariadb_admin_status():
    out = check(cli("mariadb-admin", "status"))
    assert re.search(r"Uptime: \d+\s+Threads: \d+", out), out


def test_mariadb_admin_ping_and_processlist():
    assert "mysqld is alive" in check(cli("mariadb-admin", "ping"))
    out = check(cli("mariadb-admin", "processlist"))
    assert "Id" in out and "Command" in out, out


def test_kill_query_from_second_connection():
    a = connect(SHARDED)
    b = connect(SHARDED)
    result = {}

    def run():
        start = time.time()
        try:
            with a.cursor() as cur:
                cur.execute("SELECT SLEEP(5)")
                result["rows"] = cur.fetchall()
        except pymysql.MySQLError as e:
            result["error"] = e
        result["elapsed"] = time.time() - start

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.0)
    with b.cursor() as cur:
        cur.execute("KILL QUERY %d" % a.thread_id())
    t.join(10)
    assert not t.is_alive()
    assert "error" in result, "SELECT SLEEP(5) was not interrupted: %r after %.1fs" % (result.get("rows"), result["elapsed"])
    assert result["error"].args[0] == 1317, result["error"]
    assert result["elapsed"] < 3.0, result
    with a.cursor() as cur:  # the killed session stays usable
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    a.close()
    b.close()


def test_processlist_lists_gateway_sessions():
    a = connect(SHARDED)
    b = connect(UNSHARDED)
    with a.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        cid = cur.fetchone()[0]
    assert cid == a.thread_id(), "CONNECTION_ID() %s, handshake id %s" % (cid, a.thread_id())
    t = threading.Thread(target=lambda: a.cursor().execute("SELECT SLEEP(2)"))
    t.start()
    time.sleep(0.5)
    with b.cursor() as cur:
        cur.execute("SHOW PROCESSLIST")
        rows = {r[0]: r for r in cur.fetchall()}
    t.join()
    assert cid in rows, "session %s not in SHOW PROCESSLIST: %r" % (cid, rows)
    row = rows[cid]
    assert row[3] == SHARDED and "SLEEP(2)" in (row[7] or ""), row
    assert b.thread_id() in rows
    a.close()
    b.close()


def test_mariadb_status_command():
    out = check(cli("mariadb", "-e", "status", db=SHARDED))
    assert re.search(r"Current database:\s+%s\n" % SHARDED, out), out
    assert "vt_" not in out and "tessera_app" not in out, out


def test_server_identity():
    conn = connect(UNSHARDED)
    with conn.cursor() as cur:
        cur.execute("SELECT @@version, VERSION(), @@version_comment")
        at_version, version, comment = cur.fetchone()
    handshake = conn.get_server_info()
    if handshake.startswith("5.5.5-"):  # what MariaDB 10+ announces to old clients; they strip it
        handshake = handshake[len("5.5.5-"):]
    assert handshake == at_version == version, (handshake, at_version, version)
    assert "MariaDB" in handshake, "clients pick their dialect from %r, but the tablets run MariaDB" % handshake
    conn.close()


# What people type into the `mariadb` CLI: (keyspace, statement, a regex the output must match)
STATEMENTS = [
    (UNSHARDED, "SHOW FULL TABLES", r"product\s+BASE TABLE"),
    (UNSHARDED, "SHOW FULL TABLES FROM %s LIKE 'prod%%'" % UNSHARDED, r"product\s+BASE TABLE"),
    (SHARDED, "SHOW FULL TABLES", r"customer\s+BASE TABLE"),
    (UNSHARDED, "DESCRIBE product", r"sku\s+varbinary\(128\)\s+NO\s+PRI"),
    (SHARDED, "DESCRIBE customer", r"customer_id\s+bigint\(20\)\s+NO\s+PRI"),
    (SHARDED, "SHOW COLUMNS FROM customer", r"email\s+varbinary\(128\)"),
    (SHARDED, "SHOW INDEX FROM customer", r"customer\s+0\s+PRIMARY"),
    (UNSHARDED, "SHOW TABLE STATUS", r"product\s+InnoDB"),
    (SHARDED, "SHOW TABLE STATUS LIKE 'customer'", r"customer\s+InnoDB"),
    (SHARDED, "SHOW CREATE DATABASE %s" % SHARDED, r"CREATE DATABASE `%s`" % SHARDED),
    (SHARDED, "SHOW CREATE TABLE %s.product" % UNSHARDED, r"CREATE TABLE `product`"),
    (SHARDED, "SHOW CREATE TABLE customer", r"CREATE TABLE `customer`"),
    (SHARDED, "EXPLAIN SELECT * FROM customer WHERE customer_id = 1", r"select_type"),
    (UNSHARDED, "EXPLAIN SELECT * FROM product", r"select_type"),
    (SHARDED, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name", r"corder\ncustomer\n"),
    (UNSHARDED, "SELECT schema_name FROM information_schema.schemata ORDER BY schema_name", r"%s\n%s\n" % (UNSHARDED, SHARDED)),
    (SHARDED, "SELECT column_name FROM information_schema.columns WHERE table_schema = '%s' AND table_name = 'customer' ORDER BY ordinal_position" % SHARDED, r"customer_id\nemail\n"),
    (SHARDED, "SHOW VARIABLES LIKE 'sql_mode'", r"sql_mode"),
    (SHARDED, "SET time_zone = '+00:00'; SELECT @@time_zone", r"\+00:00"),
    (SHARDED, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SELECT @@tx_isolation", r"READ-COMMITTED"),
    (SHARDED, "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci; SELECT @@collation_connection", r"utf8mb4_unicode_ci"),
    (SHARDED, "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */; /*!40101 SET SQL_MODE='' */; SELECT @@sql_mode = ''", r"\n1\n"),
]


@pytest.mark.parametrize("db,sql,expect", STATEMENTS, ids=["%s: %s" % (s[0], s[1][:60]) for s in STATEMENTS])
def test_cli_statement(db, sql, expect):
    out = check(cli("mariadb", "--batch", "-e", sql, db=db))
    assert re.search(expect, out), "expected %r in:\n%s" % (expect, out)
    assert "vt_" not in out, out


def test_found_rows_across_shards():
    conn = connect(SHARDED)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO customer (email) VALUES (%s)", ["found-rows-%d@example.com" % i for i in range(5)])
        cur.execute("SELECT COUNT(*) FROM customer")
        total = cur.fetchone()[0]
        cur.execute("SELECT SQL_CALC_FOUND_ROWS customer_id FROM customer ORDER BY customer_id LIMIT 1")
        cur.execute("SELECT FOUND_ROWS()")
        assert cur.fetchone()[0] == total
    conn.close()


def test_create_database_does_not_reach_a_tablet():
    conn = connect(UNSHARDED)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE compat_created_db")
    except pymysql.MySQLError as e:
        assert "vt_" not in str(e) and "CreateKeyspace" in str(e), e
        return
    finally:
        conn.close()
    conn = connect(UNSHARDED)
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        names = [r[0] for r in cur.fetchall()]
        if "compat_created_db" not in names:
            cur.execute("DROP DATABASE IF EXISTS compat_created_db")
            raise AssertionError("CREATE DATABASE succeeded but the database is not a keyspace: %r" % names)
    conn.close()
