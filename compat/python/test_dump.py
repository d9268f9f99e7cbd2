"""Dump and restore through the gateway: `mariadb-dump` of a keyspace with default options,
then every table emptied, the dump loaded back with the `mariadb` CLI, and every row compared
with the row sets read before the dump. Runs last: it rewrites whole keyspaces."""

import hashlib
import subprocess

import pymysql
import pytest

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER

CLIENT = "mariadb-dump round trip"


def connect(db):
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=db, autocommit=True)


def snapshot(db):
    """{table: (row count, sorted rows' digest)} for every base table, read through the gateway."""
    conn = connect(db)
    out = {}
    with conn.cursor() as cur:
        cur.execute("SHOW FULL TABLES")
        tables = [r[0] for r in cur.fetchall() if r[1] == "BASE TABLE"]
        for t in tables:
            cur.execute("SELECT * FROM `%s`" % t)
            rows = sorted(repr(r) for r in cur.fetchall())
            out[t] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    conn.close()
    return out


def tool(name, *args, stdin=None):
    cmd = [name, "-h", HOST, "-P", str(PORT), "-u", USER] + (["-p" + PASSWORD] if PASSWORD else []) + list(args)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=300)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AssertionError("%s exit %d: %s" % (name, proc.returncode, " | ".join(err[:5])))
    return proc.stdout


@pytest.mark.parametrize("db", [UNSHARDED, SHARDED])
def test_dump_and_restore(db, tmp_path):
    before = snapshot(db)
    assert before, "no tables in %s" % db
    dump = tool("mariadb-dump", db)
    (tmp_path / ("%s.sql" % db)).write_bytes(dump)
    text = dump.decode(errors="replace")
    assert "-- Dump completed" in text, "dump incomplete"
    for t, (n, _) in before.items():
        assert "CREATE TABLE `%s`" % t in text, "no CREATE TABLE for %s in the dump" % t
        if n:
            assert "INSERT INTO `%s` VALUES" % t in text, "no rows of %s in the dump" % t

    # empty every table through the gateway, then load the dump through the gateway
    conn = connect(db)
    with conn.cursor() as cur:
        for t in before:
            cur.execute("DELETE FROM `%s`" % t)
    conn.close()
    assert all(n == 0 for n, _ in snapshot(db).values())
    tool("mariadb", db, stdin=dump)

    after = snapshot(db)
    assert set(after) == set(before), (sorted(set(before) ^ set(after)))
    wrong = {t: (before[t][0], after[t][0]) for t in before if before[t] != after[t]}
    assert not wrong, "tables whose rows differ after the restore (rows before, after): %r" % wrong
