"""mysql-connector-python with its defaults (C extension when present), plain and prepared
cursors: parameters, transactions, unsharded and sharded."""

import mysql.connector

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER
import dbapi_cases

CLIENT = "mysql-connector-python %s" % mysql.connector.__version__


class Prepared:
    """A connection whose cursors are prepared cursors (server-side COM_STMT_PREPARE)."""

    def __init__(self, conn):
        self.conn = conn

    def cursor(self):
        return self.conn.cursor(prepared=True)

    def commit(self):
        self.conn.commit()

    def rollback(self):
        self.conn.rollback()


def connect(db):
    return mysql.connector.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=db)


def test_connect_and_server_info():
    conn = connect(UNSHARDED)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    conn.close()


def test_crud_unsharded():
    conn = connect(UNSHARDED)
    dbapi_cases.create_unsharded(conn, "connector")
    dbapi_cases.crud(conn, dbapi_cases.unsharded_table("connector"), 3000, "connector")
    conn.close()


def test_crud_sharded():
    conn = connect(SHARDED)
    dbapi_cases.crud(conn, dbapi_cases.SHARDED_TABLE, 3_000_000, "connector")
    conn.close()


def test_prepared_crud_unsharded():
    conn = connect(UNSHARDED)
    dbapi_cases.create_unsharded(conn, "connector_prep")
    dbapi_cases.crud(Prepared(conn), dbapi_cases.unsharded_table("connector_prep"), 4000, "connector_prep")
    conn.close()


def test_prepared_crud_sharded():
    conn = connect(SHARDED)
    dbapi_cases.crud(Prepared(conn), dbapi_cases.SHARDED_TABLE, 4_000_000, "connector_prep")
    conn.close()
