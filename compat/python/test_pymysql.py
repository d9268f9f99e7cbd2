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
