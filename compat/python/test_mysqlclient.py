"""mysqlclient (MySQLdb) with its defaults: parameters, transactions, unsharded and sharded."""

import MySQLdb
from importlib.metadata import version

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER
import dbapi_cases

CLIENT = "mysqlclient %s" % version("mysqlclient")


def connect(db):
    return MySQLdb.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=db)


def test_connect_and_server_info():
    conn = connect(UNSHARDED)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    conn.close()


def test_crud_unsharded():
    conn = connect(UNSHARDED)
    dbapi_cases.create_unsharded(conn, "mysqlclient")
    dbapi_cases.crud(conn, dbapi_cases.unsharded_table("mysqlclient"), 2000, "mysqlclient")
    conn.close()


def test_crud_sharded():
    conn = connect(SHARDED)
    dbapi_cases.crud(conn, dbapi_cases.SHARDED_TABLE, 2_000_000, "mysqlclient")
    conn.close()
