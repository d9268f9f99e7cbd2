//! Metadata as one database per keyspace (information_schema, SHOW, DESCRIBE, EXPLAIN), DDL
//! through the gateway, inserts the way dumps and drivers write them, and a mariadb-dump
//! round trip through the gateway.

use std::process::Command;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;

fn code(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => panic!("expected a server error, got {other}"),
    }
}

/// Every cell of a result as text (for "no internal name leaks").
async fn cells(conn: &mut mysql_async::Conn, sql: &str) -> Vec<Vec<String>> {
    let rows: Vec<mysql_async::Row> = conn.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(mysql_async::Value::NULL) | None => "NULL".into(),
                    Some(v) => v.as_sql(true),
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_ddl_and_dumps_through_the_gateway() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("app", "secret", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let mut seen = Vec::new();

    // information_schema with keyspace names, sharded and unsharded, filtered by DATABASE().
    let t = cells(&mut conn, "select table_schema, table_name from information_schema.tables where table_schema = database() order by table_name").await;
    assert_eq!(t, vec![vec!["customer".to_string(), "corder".into()], vec!["customer".into(), "customer".into()]]);
    let t =
        cells(&mut conn, "select table_name from information_schema.tables where table_schema = 'commerce' order by 1")
            .await;
    assert_eq!(t.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), vec!["customer_seq", "order_seq", "product"]);
    let cols = cells(&mut conn, "select column_name, data_type, column_key from information_schema.columns where table_schema = 'customer' and table_name = 'customer' order by ordinal_position").await;
    assert_eq!(cols[0], vec!["customer_id".to_string(), "bigint".into(), "PRI".into()]);
    let st = cells(&mut conn, "select index_name, column_name from information_schema.statistics where table_schema = 'commerce' and table_name = 'product'").await;
    assert_eq!(st, vec![vec!["PRIMARY".to_string(), "sku".into()]]);
    let schemata = cells(&mut conn, "select schema_name from information_schema.schemata order by 1").await;
    assert_eq!(
        schemata.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        vec!["commerce", "customer", "information_schema"]
    );
    seen.extend(schemata);
    for sql in [
        "select * from information_schema.key_column_usage where table_schema = 'customer'",
        "select * from information_schema.referential_constraints where constraint_schema = 'customer'",
        "select * from information_schema.views where table_schema = database()",
        "select * from information_schema.routines where routine_schema = database()",
        "select * from information_schema.tables where table_schema = 'customer'",
    ] {
        seen.extend(cells(&mut conn, sql).await);
    }

    // SHOW, DESCRIBE and EXPLAIN in both kinds of keyspace.
    let tables = cells(&mut conn, "show full tables from commerce").await;
    assert_eq!(tables.len(), 3, "{tables:?}");
    let desc = cells(&mut conn, "describe customer").await;
    assert_eq!(desc[0][0], "customer_id");
    assert_eq!(cells(&mut conn, "show columns from corder").await.len(), 4);
    assert_eq!(cells(&mut conn, "show index from customer").await[0][2], "PRIMARY");
    let status = cells(&mut conn, "show table status like 'customer'").await;
    assert_eq!(status[0][0], "customer");
    let create = cells(&mut conn, "show create table commerce.product").await;
    assert!(create[0][1].starts_with("CREATE TABLE `product`"), "{create:?}");
    let db = cells(&mut conn, "show create database customer").await;
    assert!(db[0][1].contains("CREATE DATABASE `customer`"), "{db:?}");
    assert!(!cells(&mut conn, "explain select * from customer").await.is_empty());
    assert!(!cells(&mut conn, "explain select * from customer where customer_id = 1").await.is_empty());
    let (user, db): (String, String) = conn.query_first("select user(), database()").await.unwrap().unwrap();
    assert!(user.starts_with("app@"), "{user}");
    assert_eq!(db, "customer");
    seen.extend([tables, desc, status, create].into_iter().flatten());
    let leaks: Vec<&Vec<String>> =
        seen.iter().filter(|r| r.iter().any(|c| c.contains("vt_") || c.contains("tessera_app"))).collect();
    assert!(leaks.is_empty(), "internal names in answers: {leaks:?}");
    let (_, msg) = code(conn.query_drop("select * from customer.nope").await.unwrap_err());
    assert!(!msg.contains("vt_"), "{msg}");

    // DDL reaches every shard of a sharded keyspace; databases are keyspaces.
    conn.query_drop("create table t_ddl (id bigint primary key, v varchar(10))").await.unwrap();
    for tablet in ["zone1-200", "zone1-300"] {
        let out = c.on_tablet(
            tablet,
            "select count(*) from information_schema.tables where table_schema = 'customer' and table_name = 't_ddl'",
        );
        assert!(out.lines().any(|l| l.trim() == "1"), "{tablet}: {out}");
    }
    conn.query_drop("alter table customer.t_ddl add column w int").await.unwrap();
    conn.query_drop("drop table t_ddl").await.unwrap();
    for tablet in ["zone1-200", "zone1-300"] {
        let out = c.on_tablet(
            tablet,
            "select count(*) from information_schema.tables where table_schema = 'customer' and table_name = 't_ddl'",
        );
        assert!(out.lines().any(|l| l.trim() == "0"), "{tablet}: {out}");
    }
    let (code_, msg) = code(conn.query_drop("create database foo").await.unwrap_err());
    assert!(code_ == 1235 && msg.contains("CreateKeyspace"), "{msg}");
    conn.query_drop("create database if not exists customer").await.unwrap();
    let (code_, _) = code(conn.query_drop("create temporary table tmp (a int)").await.unwrap_err());
    assert_eq!(code_, 1235);

    // Inserts as dumps and drivers write them: no column list; DOUBLE and DECIMAL binds on the
    // vindex column route like the integers they are.
    conn.query_drop("insert into customer values (1, 'one'), (4, 'four')").await.unwrap();
    conn.exec_drop("insert into customer (customer_id, email) values (?, ?)", (2.0f64, "two")).await.unwrap();
    let two: Option<String> =
        conn.exec_first("select email from customer where customer_id = ?", (2.0f64,)).await.unwrap();
    assert_eq!(two.as_deref(), Some("two"));
    conn.query_drop("insert into customer (customer_id, email) values (5.000, 'five'), (6e0, 'six')").await.unwrap();
    let n: u64 = conn.query_first("select count(*) from customer").await.unwrap().unwrap();
    assert_eq!(n, 5);
    // INSERT ... RETURNING over both shards answers in the statement's row order (Django's
    // bulk_create pairs ids with objects by it); DEFAULT takes the sequence as NULL does.
    let back: Vec<(i64, String)> = conn
        .query("insert into customer (customer_id, email) values (21, 'r1'), (22, 'r2'), (23, 'r3'), (24, 'r4') returning customer_id, email")
        .await
        .unwrap();
    assert_eq!(back, (21..=24).map(|i| (i, format!("r{}", i - 20))).collect::<Vec<_>>());
    let seq: Vec<(i64, String)> = conn
        .exec(
            "insert into customer (customer_id, email) values (DEFAULT, ?), (DEFAULT, ?) returning customer_id, email",
            ("d1", "d2"),
        )
        .await
        .unwrap();
    assert!(seq.len() == 2 && seq[0].0 > 24 && seq[1].0 == seq[0].0 + 1, "{seq:?}");
    conn.query_drop("insert into customer set customer_id = 31, email = 'by set'").await.unwrap();
    let by_set: Option<String> = conn.query_first("select email from customer where customer_id = 31").await.unwrap();
    assert_eq!(by_set.as_deref(), Some("by set"));
    conn.query_drop(
        "insert into customer (customer_id, email) values (31, 'x') on duplicate key update email = 'updated'",
    )
    .await
    .unwrap();
    let updated: Option<String> = conn.query_first("select email from customer where customer_id = 31").await.unwrap();
    assert_eq!(updated.as_deref(), Some("updated"));
    let (code_, msg) = code(
        conn.query_drop(
            "insert into customer (customer_id, email) values (31, 'x') on duplicate key update customer_id = 32",
        )
        .await
        .unwrap_err(),
    );
    assert!(code_ == 1235 && msg.contains("customer_id"), "{msg}");
    conn.query_drop("delete from customer where customer_id > 20").await.unwrap();
    // A sharded table's TABLE_ROWS and SHOW TABLE STATUS count its rows on every shard (exact
    // after ANALYZE TABLE, which runs on every shard).
    let analyzed: Vec<(String, String, String, String)> = conn.query("analyze table customer").await.unwrap();
    assert_eq!(analyzed.len(), 2, "one report per shard: {analyzed:?}");
    let rows: u64 = conn
        .query_first("select table_rows from information_schema.tables where table_schema = 'customer' and table_name = 'customer'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows, 5);
    // Ordered by columns shown under other names (Connector/J's getTables).
    let tables: Vec<(String, String, u64)> = conn
        .query(
            "SELECT TABLE_SCHEMA TABLE_CAT, TABLE_NAME, TABLE_ROWS FROM INFORMATION_SCHEMA.TABLES \
             WHERE TABLE_SCHEMA='customer' AND TABLE_TYPE IN ('BASE TABLE') ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME",
        )
        .await
        .unwrap();
    assert_eq!(tables.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["corder", "customer"]);
    assert_eq!(tables[1].2, 5);
    let both: Vec<(String, String)> = conn
        .query("select table_schema s, table_name n from information_schema.tables where table_schema in ('customer', 'commerce') order by table_schema desc, table_name")
        .await
        .unwrap();
    assert_eq!(both.first().map(|t| t.0.as_str()), Some("customer"));
    assert_eq!(both.last().map(|t| t.0.as_str()), Some("commerce"));
    let status: mysql_async::Row = conn.query_first("show table status like 'customer'").await.unwrap().unwrap();
    assert_eq!(status.get::<u64, _>("Rows"), Some(5));
    conn.query_drop(r"insert into customer values (7, 'back\\slash'), (8, 'it''s'), (9, NULL), (10, x'00ff0a27')")
        .await
        .unwrap();
    conn.query_drop("insert into corder values (1, 1, 'sku1', 10), (2, 4, 'sku2', 20)").await.unwrap();

    // mariadb-dump of both keyspaces through the gateway, tables emptied, the dumps loaded back
    // through the gateway: every row exactly as before.
    let port = c.gateway.port().to_string();
    let before_c: Vec<(String, Option<String>)> =
        conn.query("select hex(customer_id), hex(email) from customer order by customer_id").await.unwrap();
    let before_o: Vec<(String, String, String, i64)> = conn
        .query("select hex(order_id), hex(customer_id), hex(sku), price from corder order by order_id")
        .await
        .unwrap();
    conn.query_drop("insert into commerce.product (sku, description, price) values ('sku1', 'a \\\\ thing', 10), ('sku2', NULL, 20)")
        .await
        .unwrap();
    let before_p: Vec<(String, Option<String>, Option<i64>)> =
        conn.query("select hex(sku), hex(description), price from commerce.product order by sku").await.unwrap();
    assert_eq!(before_p.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    for ks in ["commerce", "customer"] {
        let out = Command::new("mariadb-dump")
            .args(["-h127.0.0.1", &format!("-P{port}"), "-uapp", "-psecret", ks])
            .output()
            .unwrap();
        assert!(out.status.success(), "dump {ks}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(dir.path().join(format!("{ks}.sql")), &out.stdout).unwrap();
    }
    conn.query_drop("delete from customer").await.unwrap();
    conn.query_drop("delete from corder").await.unwrap();
    conn.query_drop("delete from commerce.product").await.unwrap();
    for ks in ["commerce", "customer"] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "mariadb -h127.0.0.1 -P{port} -uapp -psecret {ks} < {}",
                dir.path().join(format!("{ks}.sql")).display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "load {ks}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let after_c: Vec<(String, Option<String>)> =
        conn.query("select hex(customer_id), hex(email) from customer order by customer_id").await.unwrap();
    let after_o: Vec<(String, String, String, i64)> = conn
        .query("select hex(order_id), hex(customer_id), hex(sku), price from corder order by order_id")
        .await
        .unwrap();
    let after_p: Vec<(String, Option<String>, Option<i64>)> =
        conn.query("select hex(sku), hex(description), price from commerce.product order by sku").await.unwrap();
    assert_eq!(after_c, before_c);
    assert_eq!(after_o, before_o);
    assert_eq!(after_p, before_p);
    // Each row on its own shard again (the sharded dump was routed row by row).
    let n80: usize = c
        .on_tablet("zone1-300", "select count(*) from customer")
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .sum();
    let m80: usize = c
        .on_tablet("zone1-200", "select count(*) from customer")
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .sum();
    assert_eq!(n80 + m80, before_c.len());

    // UPDATE and DELETE with subqueries across shards: the subqueries run first, as MariaDB
    // evaluates them before changing rows (also over the table being changed).
    conn.query_drop("update customer set email = 'ordered' where customer_id in (select customer_id from corder)")
        .await
        .unwrap();
    let ordered: Vec<i64> =
        conn.query("select customer_id from customer where email = 'ordered' order by customer_id").await.unwrap();
    assert_eq!(ordered, [1, 4]);
    conn.query_drop(
        "delete from customer where customer_id in (select customer_id from customer where email = 'ordered')",
    )
    .await
    .unwrap();
    let left: i64 = conn.query_first("select count(*) from customer where email = 'ordered'").await.unwrap().unwrap();
    assert_eq!(left, 0);
    conn.query_drop("update customer set email = (select max(sku) from corder) where customer_id = 7").await.unwrap();
    let max_sku: Option<String> = conn.query_first("select email from customer where customer_id = 7").await.unwrap();
    assert_eq!(max_sku.as_deref(), Some("sku2"));
    // INSERT ... SELECT into a sharded table from another keyspace and from itself: each row
    // on the shard its vindex value names, in one transaction.
    conn.query_drop("delete from corder").await.unwrap();
    conn.query_drop(
        "insert into corder (order_id, customer_id, sku, price) select customer_id + 100, customer_id, email, 1 from customer",
    )
    .await
    .unwrap();
    let copied: i64 = conn.query_first("select count(*) from corder").await.unwrap().unwrap();
    let customers: i64 = conn.query_first("select count(*) from customer").await.unwrap().unwrap();
    assert_eq!(copied, customers);
    let misplaced: i64 =
        conn.query_first("select count(*) from corder where order_id <> customer_id + 100").await.unwrap().unwrap();
    assert_eq!(misplaced, 0);
    for (tablet, shard) in [("zone1-200", "-80"), ("zone1-300", "80-")] {
        let here =
            c.on_tablet(tablet, "select count(*) from corder o join customer c on c.customer_id = o.customer_id");
        let orders = c.on_tablet(tablet, "select count(*) from corder");
        assert_eq!(here.lines().nth(1), orders.lines().nth(1), "{shard}: every order beside its customer");
    }
    let e = conn
        .query_drop(
            "insert into corder (order_id, customer_id, sku, price) select order_id, customer_id, sku, 1 from corder",
        )
        .await
        .unwrap_err();
    assert_eq!(code(e).0, 1062, "duplicate keys: MariaDB's error, and nothing inserted");
    let still: i64 = conn.query_first("select count(*) from corder").await.unwrap().unwrap();
    assert_eq!(still, copied);
}
