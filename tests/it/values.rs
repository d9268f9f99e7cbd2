//! Values reach MariaDB exactly: the same writes through the gateway (sharded and unsharded
//! keyspaces) and into one plain MariaDB, by the text protocol, prepared statements and user
//! variables, must store and return the same bytes; injection attempts run nothing extra.

use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::differential::Lcg;
use crate::harness::cluster::GatewayCluster;
use crate::harness::mariadb::Plain;
use crate::harness::node::ctl_ok;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS vals (id BIGINT NOT NULL, \
    s VARCHAR(400) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, b VARBINARY(400), d DOUBLE, \
    n DECIMAL(30,10), t DATETIME(6), PRIMARY KEY (id)) ENGINE=InnoDB";

const VSCHEMA: &str = r#"{
  "sharded": true,
  "vindexes": { "hash": { "type": "hash" } },
  "tables": {
    "customer": { "column_vindexes": [{ "column": "customer_id", "name": "hash" }],
                  "auto_increment": { "column": "customer_id", "sequence": "customer_seq" } },
    "corder": { "column_vindexes": [{ "column": "customer_id", "name": "hash" }],
                "auto_increment": { "column": "order_id", "sequence": "order_seq" } },
    "vals": { "column_vindexes": [{ "column": "id", "name": "hash" }] }
  }
}"#;

/// Strings that re-printing, escaping or splitting have got wrong somewhere.
pub fn matrix() -> Vec<&'static str> {
    vec![
        "",
        "plain",
        r"back\slash",
        r"\",
        r"\\",
        r"\'",
        "''",
        "'",
        "\"",
        r"x\",
        r"\\'",
        r"\n",
        "\n",
        r"\0",
        "\0",
        r"\Z",
        "\x1a",
        "\r\n",
        "\t\x08",
        r"C:\Users\new\table",
        r"^\d+\.\d*$",
        r#"{"a":"b\"c","p":"C:\\x"}"#,
        "50%",
        r"50\%",
        "a_b",
        r"a\_b",
        "it's",
        "O''Brien",
        " or 1=1 -- ",
        "'; drop table vals; -- ",
        r"\'; select 1; -- ",
        "é",
        "日本語",
        "emoji 😀",
        "`backtick`",
        "/* comment */ ?",
        "; insert into vals (id) values (999); -- ",
        "#hash\n-- dash",
    ]
}

/// `bytes` as a client library quotes them (mysql_real_escape_string): raw bytes, with
/// `\0 \n \r \\ ' " \Z` escaped.
pub fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &c in bytes {
        match c {
            0 => out.extend_from_slice(br"\0"),
            b'\n' => out.extend_from_slice(br"\n"),
            b'\r' => out.extend_from_slice(br"\r"),
            b'\\' => out.extend_from_slice(br"\\"),
            b'\'' => out.extend_from_slice(br"\'"),
            b'"' => out.extend_from_slice(br#"\""#),
            0x1a => out.extend_from_slice(br"\Z"),
            c => out.push(c),
        }
    }
    out.push(b'\'');
    out
}

/// Runs `sql` on both sides; both must succeed.
async fn both(g: &mut Conn, d: &mut Conn, sql: &[u8]) {
    let shown = String::from_utf8_lossy(sql).into_owned();
    d.query_drop(sql).await.unwrap_or_else(|e| panic!("MariaDB refused {shown:?}: {e}"));
    g.query_drop(sql).await.unwrap_or_else(|e| panic!("the gateway refused {shown:?}: {e}"));
}

async fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<Value>> {
    let rows: Vec<Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(Row::unwrap).collect()
}

async fn same_table(g: &mut Conn, d: &mut Conn, what: &str) -> usize {
    let sql = "select id, s, b, d, n, t from vals order by id";
    let (gr, dr) = (rows(g, sql).await, rows(d, sql).await);
    assert_eq!(gr.len(), dr.len(), "{what}: row counts differ");
    for (a, b) in gr.iter().zip(&dr) {
        assert_eq!(a, b, "{what}: the gateway stored {a:?}, MariaDB {b:?}");
    }
    gr.len()
}

/// Both sides hold the same `vals` table in `ks`, the gateway's keyspace named `ks` too.
async fn setup(c: &GatewayCluster, plain: &Plain) -> (mysql_async::Pool, mysql_async::Pool) {
    let url = c.nats.url.clone();
    for ks in ["customer", "commerce"] {
        ctl_ok(&url, &["ApplySchema", ks, "--sql", SCHEMA]);
    }
    let vs = PathBuf::from(c.dir.path()).join("vals_vschema.json");
    std::fs::write(&vs, VSCHEMA).unwrap();
    ctl_ok(&url, &["ApplyVSchema", "customer", "--vschema-file", &vs.display().to_string()]);
    let direct = plain.pool(None);
    let mut d = direct.get_conn().await.unwrap();
    d.query_drop("set global read_only = 0").await.unwrap();
    for ks in ["customer", "commerce"] {
        d.query_drop(format!("create database if not exists {ks}")).await.unwrap();
        d.query_drop(format!("use {ks}")).await.unwrap();
        d.query_drop(SCHEMA).await.unwrap();
    }
    let gpool = c.pool("app", "secret", Some("customer"));
    crate::harness::eventually(Duration::from_secs(20), "vals in the gateway's VSchema", || {
        let p = gpool.clone();
        async move { p.get_conn().await.ok()?.query_drop("select count(*) from vals").await.ok() }
    })
    .await;
    // Direct connections in the database the gateway's pool uses: a pooled connection that
    // ran `use` above may be still resetting when the test asks for one, and a new one would
    // have no database (CI: 1046 No database selected).
    (gpool, plain.pool(Some("customer")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn values_reach_mariadb_exactly() {
    let (c, plain) = tokio::join!(GatewayCluster::start(), Plain::start());
    let (gpool, direct) = setup(&c, &plain).await;
    let mut g = gpool.get_conn().await.unwrap();
    let mut d = direct.get_conn().await.unwrap();
    let strings = matrix();

    for ks in ["customer", "commerce"] {
        // Fresh connections: a prepared statement keeps the database it was prepared in.
        let mut g = c.pool("app", "secret", Some(ks)).get_conn().await.unwrap();
        let mut d = plain.pool(Some(ks)).get_conn().await.unwrap();
        let mut id = 0u64;
        for s in &strings {
            // The text protocol, quoted as client libraries do.
            id += 1;
            let lit = escape(s.as_bytes());
            let mut sql = format!("insert into vals (id, s, b) values ({id}, ").into_bytes();
            sql.extend_from_slice(&lit);
            sql.extend_from_slice(b", _binary");
            sql.extend_from_slice(&lit);
            sql.push(b')');
            both(&mut g, &mut d, &sql).await;
            // Prepared statements.
            id += 1;
            for (side, conn) in [("gateway", &mut g), ("MariaDB", &mut d)] {
                conn.exec_drop("insert into vals (id, s, b) values (?, ?, ?)", (id, *s, s.as_bytes()))
                    .await
                    .unwrap_or_else(|e| panic!("{side}: prepared insert of {s:?}: {e}"));
            }
            // User variables.
            id += 1;
            let mut set = b"set @s = ".to_vec();
            set.extend_from_slice(&lit);
            both(&mut g, &mut d, &set).await;
            both(&mut g, &mut d, format!("insert into vals (id, s, b) values ({id}, @s, @s)").as_bytes()).await;
        }
        let n = same_table(&mut g, &mut d, &format!("the matrix in {ks}")).await;
        assert_eq!(n, strings.len() * 3);
        // Read back by each path: the bytes written.
        for (i, s) in strings.iter().enumerate() {
            for id in [3 * i as u64 + 1, 3 * i as u64 + 2, 3 * i as u64 + 3] {
                let text: Option<(String, Vec<u8>)> =
                    g.query_first(format!("select s, b from vals where id = {id}")).await.unwrap();
                assert_eq!(text, Some((s.to_string(), s.as_bytes().to_vec())), "{ks} id {id} by text");
                let prepared: Option<(String, Vec<u8>)> =
                    g.exec_first("select s, b from vals where id = ?", (id,)).await.unwrap();
                assert_eq!(prepared, Some((s.to_string(), s.as_bytes().to_vec())), "{ks} id {id} prepared");
                let by_value: Option<u64> =
                    g.exec_first("select count(*) from vals where s = ? and b = ?", (*s, s.as_bytes())).await.unwrap();
                assert_eq!(by_value, Some(3), "{ks}: {s:?} found by its own value");
            }
        }

        // Injection attempts answer what MariaDB answers and run nothing extra.
        let q = "select count(*) from vals where b = ? or b = ?";
        for params in [(r"\", " or 1=1 -- "), (r"x\", " or 1=1 -- "), (r"\\'", "') or ('1'='1")] {
            let got: Option<u64> = g.exec_first(q, params).await.unwrap();
            let want: Option<u64> = d.exec_first(q, params).await.unwrap();
            assert_eq!(got, want, "{params:?}");
        }
        let evil = [
            "x'); insert into vals (id, s) values (424242, 'pwned'); -- ",
            r"x\'); insert into vals (id, s) values (424243, 'pwned'); -- ",
            r"\'; set global max_connections = 499; -- ",
        ];
        for (i, e) in evil.iter().enumerate() {
            let id = 100_000 + i as u64;
            g.exec_drop("insert into vals (id, s) values (?, ?)", (id, *e)).await.unwrap();
            let back: Option<String> = g.exec_first("select s from vals where id = ?", (id,)).await.unwrap();
            assert_eq!(back.as_deref(), Some(*e));
            let mut sql = b"select count(*) from vals where s = ".to_vec();
            sql.extend_from_slice(&escape(e.as_bytes()));
            let n: Option<u64> = g.query_first(&sql[..]).await.unwrap();
            assert_eq!(n, Some(1));
        }
        let extra: Option<u64> = g.query_first("select count(*) from vals where id in (424242, 424243)").await.unwrap();
        assert_eq!(extra, Some(0), "{ks}: an injected insert ran");
        g.query_drop("delete from vals where id >= 100000").await.unwrap();
    }
    for alias in ["zone1-100", "zone1-200", "zone1-300"] {
        let out = c.on_tablet(alias, "select @@global.max_connections");
        assert!(out.contains("500") && !out.contains("499"), "{alias}: a global setting changed: {out}");
    }

    // Binary user variables keep their bytes.
    both(&mut g, &mut d, b"set @v = x'ff00', @w = _binary'\\\\\xfe'").await;
    for sql in ["select @v", "select @w", "select @v, @w"] {
        assert_eq!(rows(&mut g, sql).await, rows(&mut d, sql).await, "{sql}");
    }
    let v: Option<Vec<u8>> = g.query_first("select @v").await.unwrap();
    assert_eq!(v, Some(vec![0xff, 0x00]));
    // Doubles that no column stores are refused, as MariaDB refuses them.
    g.query_drop("use customer").await.unwrap();
    d.query_drop("use customer").await.unwrap();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let r = g.exec_drop("insert into vals (id, d) values (?, ?)", (7_000_000u64, bad)).await;
        let want = d.exec_drop("insert into vals (id, d) values (?, ?)", (7_000_000u64, bad)).await;
        let (Err(mysql_async::Error::Server(got)), Err(mysql_async::Error::Server(want))) = (&r, &want) else {
            panic!("{bad}: the gateway answered {r:?}, MariaDB {want:?}");
        };
        assert_eq!(got.code, want.code, "{bad}: gateway {got:?}, MariaDB {want:?}");
    }
    let stored: Option<u64> = g.query_first("select count(*) from vals where id = 7000000").await.unwrap();
    assert_eq!(stored, Some(0));

    // NO_BACKSLASH_ESCAPES: the session's literals are read by its rule.
    both(&mut g, &mut d, b"use commerce").await;
    both(&mut g, &mut d, b"set sql_mode = concat(@@sql_mode, ',NO_BACKSLASH_ESCAPES')").await;
    let mode: Option<String> = g.query_first("select @@sql_mode").await.unwrap();
    assert!(mode.unwrap_or_default().contains("NO_BACKSLASH_ESCAPES"));
    both(&mut g, &mut d, br"insert into vals (id, s, b) values (500, 'C:\new\dir', 'it''s \')").await;
    both(&mut g, &mut d, br"set @nbe = 'a\b'").await;
    both(&mut g, &mut d, b"insert into vals (id, s) values (501, @nbe)").await;
    for conn in [&mut g, &mut d] {
        conn.exec_drop("insert into vals (id, s) values (?, ?)", (502, r"p\q'r")).await.unwrap();
    }
    let back: Vec<(u64, String)> = g.query("select id, s from vals where id >= 500 order by id").await.unwrap();
    assert_eq!(back, vec![(500, r"C:\new\dir".into()), (501, r"a\b".into()), (502, r"p\q'r".into())]);
    both(&mut g, &mut d, b"set sql_mode = default").await;
    let e = g.query_drop("set sql_mode = 'ANSI_QUOTES'").await.unwrap_err();
    assert!(e.to_string().contains("ANSI_QUOTES"), "{e}");
    same_table(&mut g, &mut d, "after NO_BACKSLASH_ESCAPES").await;

    // Long chains are answered, and answered right.
    both(&mut g, &mut d, b"use customer").await;
    let ors: Vec<String> = (0..10_000).map(|i| format!("id = {i}")).collect();
    let sql = format!("select count(*) from vals where {}", ors.join(" or "));
    let (got, want): (Option<u64>, Option<u64>) =
        (g.query_first(&sql).await.unwrap(), d.query_first(&sql).await.unwrap());
    assert_eq!(got, want);
    for op in [" and ", " || "] {
        let terms: Vec<String> = (0..10_000).map(|i| format!("id <> {i}")).collect();
        let sql = format!("select count(*) from vals where {}", terms.join(op));
        let (got, want): (Option<u64>, Option<u64>) =
            (g.query_first(&sql).await.unwrap(), d.query_first(&sql).await.unwrap());
        assert_eq!(got, want, "a 10,000-term{op}chain");
    }
    let sql = format!("select {}", vec!["1"; 10_000].join(" + "));
    let (got, want): (Option<u64>, Option<u64>) =
        (g.query_first(&sql).await.unwrap(), d.query_first(&sql).await.unwrap());
    assert_eq!((got, want), (Some(10_000), Some(10_000)));
    let sql = format!("select {}", vec!["1"; 40_000].join(" + "));
    let e = g.query_drop(&sql).await.unwrap_err();
    assert!(matches!(&e, mysql_async::Error::Server(s) if s.code == 1436), "{e}");
    let one: Option<u64> = g.query_first("select 1").await.unwrap();
    assert_eq!(one, Some(1), "the session lives on");
}

/// Random values (strings of troublesome characters, any bytes, doubles, decimals, dates,
/// NULLs) through the three paths, compared with MariaDB and with what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_values_round_trip() {
    let (c, plain) = tokio::join!(GatewayCluster::start(), Plain::start());
    let (gpool, direct) = setup(&c, &plain).await;
    let mut g = gpool.get_conn().await.unwrap();
    let mut d = direct.get_conn().await.unwrap();
    let mut rng = Lcg(20261130);
    let alphabet: Vec<char> = "\\'\"%_\0\n\r\x1a;-#/*?@:`xé😀 ".chars().collect();
    let mut expect = Vec::new();
    for id in 1..=600u64 {
        let null = |rng: &mut Lcg| rng.below(10) == 0;
        let s: Option<String> = (!null(&mut rng))
            .then(|| (0..rng.below(24)).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect());
        let b: Option<Vec<u8>> = (!null(&mut rng)).then(|| (0..rng.below(24)).map(|_| rng.below(256) as u8).collect());
        let dbl: Option<f64> = (!null(&mut rng)).then(|| loop {
            let v = f64::from_bits((rng.next() << 32) | rng.next());
            if v.is_finite() && v.abs() < 1e300 {
                break v;
            }
        });
        let n: Option<String> = (!null(&mut rng)).then(|| {
            format!(
                "{}{}.{:010}",
                if rng.below(2) == 0 { "-" } else { "" },
                rng.next() % 100_000_000,
                rng.next() % 10_000_000_000
            )
        });
        let t: Option<(u16, u8, u8, u8, u8, u8, u32)> = (!null(&mut rng)).then(|| {
            (
                1000 + rng.below(8000) as u16,
                1 + rng.below(12) as u8,
                1 + rng.below(28) as u8,
                rng.below(24) as u8,
                rng.below(60) as u8,
                rng.below(60) as u8,
                rng.below(1_000_000) as u32,
            )
        });
        match id % 3 {
            0 => {
                // Text protocol: raw bytes in `_binary'...'`, as PyMySQL sends them.
                let lit = |v: Option<&[u8]>, binary: bool| match v {
                    None => b"NULL".to_vec(),
                    Some(v) => [if binary { &b"_binary"[..] } else { b"" }, &escape(v)].concat(),
                };
                let mut sql = format!("insert into vals (id, s, b, d, n, t) values ({id}, ").into_bytes();
                sql.extend(lit(s.as_deref().map(str::as_bytes), false));
                sql.extend(b", ");
                sql.extend(lit(b.as_deref(), true));
                sql.extend(format!(", {}, ", dbl.map_or("NULL".into(), |v| format!("{v:e}"))).into_bytes());
                sql.extend(n.clone().map_or(b"NULL".to_vec(), |n| n.into_bytes()));
                sql.extend(b", ");
                let tl = t.map(|(y, mo, dd, h, mi, se, us)| {
                    format!("'{y:04}-{mo:02}-{dd:02} {h:02}:{mi:02}:{se:02}.{us:06}'")
                });
                sql.extend(tl.unwrap_or_else(|| "NULL".into()).into_bytes());
                sql.push(b')');
                both(&mut g, &mut d, &sql).await;
            }
            1 => {
                let params = vec![
                    Value::UInt(id),
                    s.clone().map_or(Value::NULL, |s| Value::Bytes(s.into_bytes())),
                    b.clone().map_or(Value::NULL, Value::Bytes),
                    dbl.map_or(Value::NULL, Value::Double),
                    n.clone().map_or(Value::NULL, |n| Value::Bytes(n.into_bytes())),
                    t.map_or(Value::NULL, |(y, mo, dd, h, mi, se, us)| Value::Date(y, mo, dd, h, mi, se, us)),
                ];
                for conn in [&mut g, &mut d] {
                    conn.exec_drop("insert into vals (id, s, b, d, n, t) values (?, ?, ?, ?, ?, ?)", params.clone())
                        .await
                        .unwrap_or_else(|e| panic!("prepared insert {params:?}: {e}"));
                }
            }
            _ => {
                let lit = |v: Option<&[u8]>| v.map_or(b"NULL".to_vec(), escape);
                let mut set = b"set @s = ".to_vec();
                set.extend(lit(s.as_deref().map(str::as_bytes)));
                set.extend(b", @b = ");
                set.extend(b.as_deref().map_or(b"NULL".to_vec(), |v| [&b"_binary"[..], &escape(v)].concat()));
                set.extend(format!(", @d = {}", dbl.map_or("NULL".into(), |v| format!("{v:e}"))).into_bytes());
                set.extend(format!(", @n = {}", n.clone().unwrap_or_else(|| "NULL".into())).into_bytes());
                let tl = t.map(|(y, mo, dd, h, mi, se, us)| {
                    format!("'{y:04}-{mo:02}-{dd:02} {h:02}:{mi:02}:{se:02}.{us:06}'")
                });
                set.extend(format!(", @t = {}", tl.unwrap_or_else(|| "NULL".into())).into_bytes());
                both(&mut g, &mut d, &set).await;
                let insert = format!("insert into vals (id, s, b, d, n, t) values ({id}, @s, @b, @d, @n, @t)");
                both(&mut g, &mut d, insert.as_bytes()).await;
            }
        }
        expect.push((id, s, b));
    }
    assert_eq!(same_table(&mut g, &mut d, "random values").await, 600);
    let back: Vec<(u64, Option<String>, Option<Vec<u8>>)> =
        g.query("select id, s, b from vals order by id").await.unwrap();
    assert_eq!(back, expect, "strings and bytes come back as written");
}
