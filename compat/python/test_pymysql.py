"""PyMySQL with its defaults: parameters, transactions, on an unsharded and a sharded table."""

import pymysql
from importlib.metadata import version
import pytest

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER
import dbapi_cases

CLIENT = "PyMySQL %s" % version("PyMySQL")


def connect(db):
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=db)


def test_connect_and_server_info():
    conn = connect(UNSHARDED)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    conn.close()


def test_crud_unsharded():
    conn = connect(UNSHARDED)
    dbapi_cases.create_unsharded(conn, "pymysql")
    dbapi_cases.crud(conn, dbapi_cases.unsharded_table("pymysql"), 1000, "pymysql")
    conn.close()


def test_crud_sharded():
    conn = connect(SHARDED)
    dbapi_cases.crud(conn, dbapi_cases.SHARDED_TABLE, 1_000_000, "pymysql")
    conn.close()


def savepoints(db, table, base):
    """A savepoint rolled back inside a transaction undoes only what followed it."""
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("DELETE FROM " + table + " WHERE client = %s", ("pymysql-sp",))
    conn.commit()
    cur.execute("INSERT INTO " + table + " (id, client, val) VALUES (%s, %s, %s)", (base + 1, "pymysql-sp", "outer"))
    cur.execute("SAVEPOINT sp1")
    cur.execute("INSERT INTO " + table + " (id, client, val) VALUES (%s, %s, %s)", (base + 2, "pymysql-sp", "inner"))
    cur.execute("ROLLBACK TO SAVEPOINT sp1")
    cur.execute("RELEASE SAVEPOINT sp1")
    conn.commit()
    cur.execute("SELECT val FROM " + table + " WHERE client = %s ORDER BY id", ("pymysql-sp",))
    assert [r[0] for r in cur.fetchall()] == ["outer"]
    conn.close()


def test_savepoint_unsharded():
    conn = connect(UNSHARDED)
    dbapi_cases.create_unsharded(conn, "pymysql")
    conn.close()
    savepoints(UNSHARDED, dbapi_cases.unsharded_table("pymysql"), 1100)


def test_savepoint_sharded():
    savepoints(SHARDED, dbapi_cases.SHARDED_TABLE, 1_100_000)


def test_insert_returning_sharded():
    """MariaDB's INSERT ... RETURNING (what Django and SQLAlchemy send to MariaDB >= 10.5) into a
    sharded table whose ids come from a sequence: one row back per row inserted."""
    conn = connect(SHARDED)
    cur = conn.cursor()
    cur.execute("INSERT INTO compat_sa_item (driver, name, qty) VALUES (%s, %s, %s), (%s, %s, %s) RETURNING id, name",
                ("pymysql-ret", "a", 1, "pymysql-ret", "b", 2))
    rows = cur.fetchall()
    conn.commit()
    assert len(rows) == 2 and [r[1] for r in rows] == ["a", "b"] and all(r[0] for r in rows), rows
    conn.close()


def test_insert_returning_unsharded():
    conn = connect(UNSHARDED)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS compat_py_returning (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))")
    cur.execute("INSERT INTO compat_py_returning (name) VALUES (%s), (%s) RETURNING id, name", ("a", "b"))
    rows = cur.fetchall()
    conn.commit()
    assert len(rows) == 2 and [r[1] for r in rows] == ["a", "b"], rows
    conn.close()


def test_in_list_spanning_shards_after_one_shard():
    """The same statement shape first with IN values on one shard, then with values on both:
    the second still merges the shards (ordered, one COUNT row, LIMIT, DISTINCT)."""
    base = 1_300_000
    ids = [base + i for i in range(1, 9)]
    conn = connect(SHARDED)
    cur = conn.cursor()
    cur.execute("DELETE FROM compat_kv WHERE client = %s", ("pymysql-cache",))
    cur.executemany("INSERT INTO compat_kv (id, client) VALUES (%s, %s)", [(i, "pymysql-cache") for i in ids])
    conn.commit()
    conn.select_db(SHARDED + "/-80")  # which of them live in shard -80
    cur.execute("SELECT id FROM compat_kv WHERE client = %s", ("pymysql-cache",))
    low = sorted(r[0] for r in cur.fetchall())
    conn.close()
    high = [i for i in ids if i not in low]
    assert len(low) >= 2 and high, (low, high)
    a, b, c = low[0], low[1], high[0]

    conn = connect(SHARDED)
    cur = conn.cursor()
    checks = [
        ("SELECT id AS cache_probe_1 FROM compat_kv WHERE id IN (%s, %s) ORDER BY id DESC", lambda rows, x, y: [r[0] for r in rows] == sorted([x, y], reverse=True)),
        ("SELECT COUNT(*) AS cache_probe_2 FROM compat_kv WHERE id IN (%s, %s)", lambda rows, x, y: [tuple(r) for r in rows] == [(2,)]),
        ("SELECT id AS cache_probe_3 FROM compat_kv WHERE id IN (%s, %s) ORDER BY id LIMIT 1", lambda rows, x, y: [r[0] for r in rows] == [min(x, y)]),
        ("SELECT DISTINCT client AS cache_probe_4 FROM compat_kv WHERE id IN (%s, %s)", lambda rows, x, y: [r[0] for r in rows] == ["pymysql-cache"]),
    ]
    wrong = []
    for sql, ok in checks:
        cur.execute(sql, (a, b))
        first = cur.fetchall()
        cur.execute(sql, (a, c))
        second = cur.fetchall()
        if not ok(second, a, c):
            wrong.append("%s with (%d, %d) after (%d, %d): %r" % (sql.split(" FROM")[0], a, c, a, b, second))
    conn.close()
    assert not wrong, "; ".join(wrong)
