"""aiomysql with its defaults: parameters, transactions, unsharded and sharded."""

import asyncio
import datetime
import decimal

import aiomysql

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER

CLIENT = "aiomysql %s" % aiomysql.__version__


async def crud(db, table, base, create):
    conn = await aiomysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, db=db)
    try:
        cur = await conn.cursor()
        if create:
            await cur.execute(
                "CREATE TABLE IF NOT EXISTS %s (id BIGINT NOT NULL PRIMARY KEY, client VARCHAR(32) NOT NULL,"
                " val VARCHAR(255), amount DECIMAL(12,2), created DATETIME, data VARBINARY(64)) ENGINE=InnoDB" % table
            )
        await cur.execute("DELETE FROM " + table + " WHERE client = %s", ("aiomysql",))
        await conn.commit()
        when = datetime.datetime(2024, 2, 29, 13, 14, 15)
        rows = [(base + i, "aiomysql", "v%d 'q' \\" % i, decimal.Decimal("%d.50" % i), when, b"\x00\xff") for i in range(1, 4)]
        ins = "INSERT INTO " + table + " (id, client, val, amount, created, data) VALUES (%s, %s, %s, %s, %s, %s)"
        await cur.executemany(ins, rows)
        await conn.commit()
        await cur.execute("SELECT id, client, val, amount, created, data FROM " + table + " WHERE id = %s", (base + 2,))
        assert await cur.fetchall() == (rows[1],)
        await cur.execute("UPDATE " + table + " SET val = %s WHERE id = %s", ("new", base + 1))
        assert cur.rowcount == 1
        await cur.execute("DELETE FROM " + table + " WHERE id = %s", (base + 3,))
        await conn.commit()
        await cur.execute("SELECT id, val FROM " + table + " WHERE client = %s ORDER BY id", ("aiomysql",))
        assert await cur.fetchall() == ((base + 1, "new"), (base + 2, rows[1][2]))
        await cur.execute(ins, (base + 9, "aiomysql", None, None, None, None))
        await conn.rollback()
        await cur.execute("SELECT COUNT(*) FROM " + table + " WHERE id = %s", (base + 9,))
        assert (await cur.fetchone())[0] == 0
    finally:
        conn.close()


def test_crud_unsharded():
    asyncio.run(crud(UNSHARDED, "compat_py_aiomysql", 5000, create=True))


def test_crud_sharded():
    asyncio.run(crud(SHARDED, "compat_kv", 5_000_000, create=False))


def test_pool():
    async def run():
        pool = await aiomysql.create_pool(host=HOST, port=PORT, user=USER, password=PASSWORD, db=SHARDED, maxsize=3)
        try:
            async def one(i):
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT %s + 1", (i,))
                        return (await cur.fetchone())[0]
            got = await asyncio.gather(*(one(i) for i in range(10)))
            assert got == [i + 1 for i in range(10)]
        finally:
            pool.close()
            await pool.wait_closed()
    asyncio.run(run())
