"""The basic CRUD every DB-API driver case runs, on an unsharded and on a sharded table.

`conn` is an open DB-API connection with autocommit off (the PEP 249 default); `ph` is the
driver's placeholder. Rows carry a client tag and ids from a range of the client's own, so
the drivers never see each other's rows.
"""

import datetime
import decimal

from conftest import SHARDED, UNSHARDED

SHARDED_TABLE = "compat_kv"  # created by scripts/compat.sh, hash vindex on id


def unsharded_table(tag):
    return "compat_py_%s" % tag


def create_unsharded(conn, tag):
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE IF NOT EXISTS %s ("
        " id BIGINT NOT NULL PRIMARY KEY,"
        " client VARCHAR(32) NOT NULL,"
        " val VARCHAR(255),"
        " amount DECIMAL(12,2),"
        " created DATETIME,"
        " data VARBINARY(64)"
        ") ENGINE=InnoDB" % unsharded_table(tag)
    )
    conn.commit()
    cur.close()


def rows_for(base, tag):
    when = datetime.datetime(2024, 2, 29, 13, 14, 15)
    return [
        (base + i, tag, "value %d with 'quote' and \\ backslash" % i, decimal.Decimal("%d.25" % i), when, bytes([i, 0, 255]))
        for i in range(1, 6)
    ]


def crud(conn, table, base, tag, ph="%s"):
    cur = conn.cursor()
    cur.execute("DELETE FROM %s WHERE client = %s" % (table, ph), (tag,))
    conn.commit()

    rows = rows_for(base, tag)
    insert = "INSERT INTO %s (id, client, val, amount, created, data) VALUES (%s)" % (table, ", ".join([ph] * 6))
    cur.execute(insert, rows[0])
    cur.executemany(insert, rows[1:])
    conn.commit()

    # point read by the primary key (the vindex column in the sharded table)
    cur.execute("SELECT id, client, val, amount, created, data FROM %s WHERE id = %s" % (table, ph), (base + 3,))
    got = cur.fetchall()
    assert [tuple(r) for r in got] == [rows[2]], got

    # IN lists (rows on both shards of the sharded table) and a filter on another column (a
    # scatter), ordered
    cur.execute("SELECT id FROM %s WHERE id IN (%s, %s, %s, %s, %s) ORDER BY id" % ((table,) + (ph,) * 5), tuple(base + i for i in range(1, 6)))
    got = [r[0] for r in cur.fetchall()]
    assert got == [base + i for i in range(1, 6)], "IN (...) ORDER BY id gave %r" % got
    cur.execute("SELECT id, val FROM %s WHERE client = %s ORDER BY id DESC" % (table, ph), (tag,))
    got = cur.fetchall()
    assert [r[0] for r in got] == [r[0] for r in reversed(rows)], got

    # update and delete with parameters
    cur.execute("UPDATE %s SET val = %s, amount = amount + %s WHERE id = %s" % (table, ph, ph, ph), ("changed", decimal.Decimal("1.50"), base + 2))
    assert cur.rowcount == 1, cur.rowcount
    cur.execute("DELETE FROM %s WHERE id = %s" % (table, ph), (base + 4,))
    assert cur.rowcount == 1, cur.rowcount
    conn.commit()
    cur.execute("SELECT val, amount FROM %s WHERE id = %s" % (table, ph), (base + 2,))
    assert tuple(cur.fetchone()) == ("changed", decimal.Decimal("3.75"))
    cur.execute("SELECT COUNT(*), SUM(amount) FROM %s WHERE client = %s" % (table, ph), (tag,))
    count, total = cur.fetchone()
    assert (count, total) == (4, decimal.Decimal("1.25") + decimal.Decimal("3.75") + decimal.Decimal("3.25") + decimal.Decimal("5.25")), (count, total)

    # a rolled back transaction leaves nothing behind, a committed one stays
    cur.execute(insert, (base + 10, tag, "rolled back", None, None, None))
    conn.rollback()
    cur.execute("SELECT COUNT(*) FROM %s WHERE id = %s" % (table, ph), (base + 10,))
    assert cur.fetchone()[0] == 0
    cur.execute(insert, (base + 11, tag, None, None, None, None))
    conn.commit()
    cur.execute("SELECT val, amount, created, data FROM %s WHERE id = %s" % (table, ph), (base + 11,))
    assert tuple(cur.fetchone()) == (None, None, None, None)
    cur.close()
