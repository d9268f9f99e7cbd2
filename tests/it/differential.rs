//! The differential test: the same rows in the sharded customer keyspace (through the gateway)
//! and in one plain MariaDB; every query of the corpus (and a few hundred generated ones) runs
//! on both and the answers must match — order-insensitive unless the query orders, numbers by
//! value. Prints how many match; any mismatch or unexpected refusal fails the test.

use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::corpus;
use crate::harness::cluster::GatewayCluster;
use crate::harness::mariadb::Plain;
use crate::harness::node::ctl_ok;

const REVIEW_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS review (review_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, \
    body VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, rating DECIMAL(4,1), score DOUBLE, \
    created DATETIME, PRIMARY KEY (review_id)) ENGINE=InnoDB";

/// A reference table: a copy on every shard of the customer keyspace.
const RATING_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rating_label (floor_rating INT NOT NULL, \
    label VARCHAR(16), PRIMARY KEY (floor_rating)) ENGINE=InnoDB";

/// Tables with multi-column primary vindexes.
const MULTI_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS visit (region INT NOT NULL, visitor_id BIGINT NOT NULL, \
    page VARCHAR(32), hits INT, PRIMARY KEY (region, visitor_id)) ENGINE=InnoDB; \
    CREATE TABLE IF NOT EXISTS doc (tenant_id BIGINT NOT NULL, doc_id BIGINT NOT NULL, title VARCHAR(32), \
    PRIMARY KEY (tenant_id, doc_id)) ENGINE=InnoDB; \
    CREATE TABLE IF NOT EXISTS person (name VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, \
    city VARCHAR(32), PRIMARY KEY (name)) ENGINE=InnoDB";

const VSCHEMA: &str = r#"{
  "sharded": true,
  "vindexes": {
    "hash": { "type": "hash" },
    "region_vdx": { "type": "region_experimental", "params": { "region_bytes": "1" } },
    "tenant_vdx": { "type": "multicol", "params": { "column_count": "2", "column_bytes": "1,7" } },
    "loose": { "type": "unicode_loose_xxhash" }
  },
  "tables": {
    "customer": { "column_vindexes": [{ "column": "customer_id", "name": "hash" }],
                  "auto_increment": { "column": "customer_id", "sequence": "customer_seq" } },
    "corder": { "column_vindexes": [{ "column": "customer_id", "name": "hash" }],
                "auto_increment": { "column": "order_id", "sequence": "order_seq" } },
    "review": { "column_vindexes": [{ "column": "customer_id", "name": "hash" }] },
    "rating_label": { "type": "reference" },
    "visit": { "column_vindexes": [{ "columns": ["region", "visitor_id"], "name": "region_vdx" }] },
    "doc": { "column_vindexes": [{ "columns": ["tenant_id", "doc_id"], "name": "tenant_vdx" }] },
    "person": { "column_vindexes": [{ "column": "name", "name": "loose" }] }
  }
}"#;

/// A deterministic generator (the data and the generated queries are the same every run).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// INSERT statements for the example data: (keyspace, sql).
fn data() -> Vec<(&'static str, String)> {
    let mut r = Lcg(42);
    let mut out = Vec::new();
    let products: Vec<String> = (1..=6)
        .map(|i| format!("('sku{i}', 'Product {}', {})", ["A", "b", "C", "a", "B", "c"][i - 1], i * 100 + 50))
        .collect();
    out.push(("commerce", format!("insert into product (sku, description, price) values {}", products.join(", "))));
    let mut customers = Vec::new();
    for id in 1..=40 {
        let email = match id % 11 {
            0 => "NULL".to_string(),
            5 => format!("'USER{}@Example.com'", id % 7),
            _ => format!("'user{}@example.com'", id % 13),
        };
        customers.push(format!("({id}, {email})"));
    }
    out.push(("customer", format!("insert into customer (customer_id, email) values {}", customers.join(", "))));
    let mut orders = Vec::new();
    for id in 1..=200 {
        let cid = 1 + r.below(45);
        let sku = format!("'sku{}'", 1 + r.below(8));
        let price = if id % 17 == 0 { "NULL".to_string() } else { (r.below(500) as i64 - 20).to_string() };
        orders.push(format!("({id}, {cid}, {sku}, {price})"));
    }
    for chunk in orders.chunks(50) {
        out.push((
            "customer",
            format!("insert into corder (order_id, customer_id, sku, price) values {}", chunk.join(", ")),
        ));
    }
    let bodies = ["'Great'", "'great'", "'GREAT '", "'ok'", "'Ok'", "'bad'", "'Bäd'", "'meh'", "NULL", "'fine'"];
    let mut reviews = Vec::new();
    for id in 1..=120 {
        let cid = 1 + r.below(40);
        let body = r.pick(&bodies).to_string();
        let rating = if id % 13 == 0 { "NULL".to_string() } else { format!("{}.{}", r.below(5), r.below(10)) };
        let score = if id % 9 == 0 { "NULL".to_string() } else { format!("{}.25e0", r.below(1000) as i64 - 300) };
        let created =
            format!("'2026-{:02}-{:02} {:02}:{:02}:00'", 1 + r.below(12), 1 + r.below(28), r.below(24), r.below(60));
        reviews.push(format!("({id}, {cid}, {body}, {rating}, {score}, {created})"));
    }
    let mut visits = Vec::new();
    for i in 0..60 {
        let region = [1, 2, 3, 130, 200, 250][i % 6];
        visits.push(format!("({region}, {}, 'page{}', {})", 1 + i / 3, i % 7, r.below(100)));
    }
    out.push(("customer", format!("insert into visit (region, visitor_id, page, hits) values {}", visits.join(", "))));
    let mut docs = Vec::new();
    for i in 0..40 {
        docs.push(format!("({}, {}, 'Doc {}')", 1 + i % 5, 100 + i, r.below(30)));
    }
    out.push(("customer", format!("insert into doc (tenant_id, doc_id, title) values {}", docs.join(", "))));
    out.push((
        "customer",
        "insert into person (name, city) values ('José', 'Lima'), ('Zoë', 'Oslo'), ('Ångström', 'Uppsala'), \
         ('Nuñez', 'Quito'), ('anne', 'Paris'), ('Björk', 'Reykjavík'), ('Łukasz', 'Kraków'), ('Ｗｉｄｅ', 'Tokyo')"
            .to_string(),
    ));
    out.push((
        "customer",
        "insert into rating_label (floor_rating, label) values (0, 'awful'), (1, 'poor'), (2, 'fair'), (3, 'good'), (5, 'great')"
            .to_string(),
    ));
    out.push((
        "customer",
        format!(
            "insert into review (review_id, customer_id, body, rating, score, created) values {}",
            reviews.join(", ")
        ),
    ));
    out
}

/// A cell as text for comparison: numbers by value.
fn norm(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::NULL => "NULL".into(),
        mysql_async::Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b).into_owned();
            match s.trim().parse::<f64>() {
                Ok(f)
                    if !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
                {
                    format!("{:.6e}", f)
                }
                _ => s,
            }
        }
        other => format!("{other:?}"),
    }
}

type Rows = Vec<Vec<String>>;

async fn run(conn: &mut mysql_async::Conn, sql: &str) -> Result<Rows, (u16, String)> {
    match conn.query::<mysql_async::Row, _>(sql).await {
        Ok(rows) => Ok(rows.into_iter().map(|r| r.unwrap().iter().map(norm).collect()).collect()),
        Err(mysql_async::Error::Server(e)) => Err((e.code, e.message)),
        Err(e) => Err((0, e.to_string())),
    }
}

fn ordered(sql: &str) -> bool {
    // A top-level ORDER BY: after the last closing parenthesis.
    let lower = sql.to_ascii_lowercase();
    let tail = lower.rsplit(')').next().unwrap_or(&lower);
    tail.contains("order by")
}

/// Column types and decimals, and the rows' exact text (sorted): what a client reads.
type Typed = (Vec<(String, u8)>, Vec<Vec<Option<String>>>);

async fn typed(conn: &mut mysql_async::Conn, sql: &str) -> Result<Typed, String> {
    let mut r = conn.query_iter(sql).await.map_err(|e| e.to_string())?;
    let columns: Vec<(String, u8)> = r
        .columns()
        .map(|c| c.iter().map(|c| (format!("{:?}", c.column_type()), c.decimals())).collect())
        .unwrap_or_default();
    let rows: Vec<mysql_async::Row> = r.collect().await.map_err(|e| e.to_string())?;
    let mut text: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| match row.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                    Some(mysql_async::Value::NULL) | None => None,
                    Some(other) => Some(format!("{other:?}")),
                })
                .collect()
        })
        .collect();
    text.sort();
    Ok((columns, text))
}

#[derive(Default)]
struct Tally {
    matched: usize,
    both_failed: Vec<String>,
    mismatched: Vec<String>,
    refused: Vec<String>,
}

async fn compare(g: &mut mysql_async::Conn, d: &mut mysql_async::Conn, sql: &str, t: &mut Tally) {
    let (gr, dr) = (run(g, sql).await, run(d, sql).await);
    match (gr, dr) {
        (Ok(mut a), Ok(mut b)) => {
            if !ordered(sql) {
                a.sort();
                b.sort();
            }
            if a == b {
                t.matched += 1;
            } else {
                t.mismatched.push(format!(
                    "{sql}\n    gateway ({} rows): {:?}\n    mariadb ({} rows): {:?}",
                    a.len(),
                    a.iter().take(6).collect::<Vec<_>>(),
                    b.len(),
                    b.iter().take(6).collect::<Vec<_>>()
                ));
            }
        }
        (Err((code, msg)), Ok(_)) => t.refused.push(format!("{sql}\n    gateway error {code}: {msg}")),
        (Ok(_), Err((code, msg))) => t.mismatched.push(format!("{sql}\n    only MariaDB failed ({code}: {msg})")),
        (Err((c1, m1)), Err((c2, m2))) => {
            t.both_failed.push(format!("{sql}\n    gateway {c1}: {m1}\n    mariadb {c2}: {m2}"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corpus_matches_a_single_mariadb() {
    let (cluster, plain) = tokio::join!(GatewayCluster::start_with("max_rows = 10000"), Plain::start());
    // The review table, on both sides.
    let url = cluster.nats.url.clone();
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", REVIEW_SCHEMA]);
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", RATING_SCHEMA]);
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", MULTI_SCHEMA]);
    let vs = PathBuf::from(cluster.dir.path()).join("vschema.json");
    std::fs::write(&vs, VSCHEMA).unwrap();
    ctl_ok(&url, &["ApplyVSchema", "customer", "--vschema-file", &vs.display().to_string()]);
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/commerce");
    let direct = plain.pool(None);
    let mut d = direct.get_conn().await.unwrap();
    d.query_drop("set global read_only = 0").await.unwrap();
    for (db, file) in [("commerce", "schema_commerce.sql"), ("customer", "schema_customer.sql")] {
        d.query_drop(format!("create database {db}")).await.unwrap();
        d.query_drop(format!("use {db}")).await.unwrap();
        for stmt in tessera::schema::split_statements(&std::fs::read_to_string(examples.join(file)).unwrap()) {
            d.query_drop(stmt).await.unwrap();
        }
    }
    d.query_drop(REVIEW_SCHEMA).await.unwrap();
    d.query_drop(RATING_SCHEMA).await.unwrap();
    for stmt in tessera::schema::split_statements(MULTI_SCHEMA) {
        d.query_drop(stmt).await.unwrap();
    }
    let gpool = cluster.pool("app", "secret", Some("customer"));
    let mut g = gpool.get_conn().await.unwrap();
    // The VSchema change reaches the gateway's view shortly.
    crate::harness::eventually(Duration::from_secs(20), "review in the gateway's VSchema", || {
        let p = gpool.clone();
        async move {
            let mut c = p.get_conn().await.ok()?;
            c.query_drop("select count(*) from review").await.ok()
        }
    })
    .await;
    for (ks, sql) in data() {
        d.query_drop(format!("use {ks}")).await.unwrap();
        d.query_drop(&sql).await.unwrap();
        g.query_drop(format!("use {ks}")).await.unwrap();
        g.query_drop(&sql).await.unwrap();
    }
    d.query_drop("use customer").await.unwrap();
    g.query_drop("use customer").await.unwrap();

    let mut t = Tally::default();
    let written = corpus::queries();
    for sql in &written {
        compare(&mut g, &mut d, sql, &mut t).await;
    }
    let generated = corpus::generated(1600);
    for sql in &generated {
        compare(&mut g, &mut d, sql, &mut t).await;
    }
    // Result metadata and exact text where the gateway combines parts of different types.
    for sql in corpus::typed() {
        let (a, b) = (typed(&mut g, sql).await, typed(&mut d, sql).await);
        if a != b {
            t.mismatched.push(format!("{sql}\n    gateway: {a:?}\n    mariadb: {b:?}"));
        }
    }
    for sql in corpus::concatenated() {
        let items = |r: Result<Rows, (u16, String)>| {
            r.map(|rows| {
                let mut rows: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|cell| {
                                let mut parts: Vec<&str> = cell.split('|').collect();
                                parts.sort();
                                parts.join("|")
                            })
                            .collect()
                    })
                    .collect();
                rows.sort();
                rows
            })
        };
        let (a, b) = (items(run(&mut g, sql).await), items(run(&mut d, sql).await));
        if a != b {
            t.mismatched.push(format!("{sql}\n    gateway: {a:?}\n    mariadb: {b:?}"));
        } else {
            t.matched += 1;
        }
    }
    // Shapes that must be refused with an error naming them (never a wrong answer).
    let mut refused_ok = 0;
    for (sql, needle) in corpus::refused() {
        match run(&mut g, sql).await {
            Err((1235, msg)) if msg.to_ascii_lowercase().contains(needle) => refused_ok += 1,
            other => t.mismatched.push(format!("{sql}\n    expected a 1235 error naming `{needle}`, got {other:?}")),
        }
    }
    // Memory is bounded: past max_rows the statement fails, saying why.
    match run(
        &mut g,
        "select count(*) from corder o join commerce.product p on o.price > p.price join review r on r.score < o.price",
    )
    .await
    {
        Err((1105, msg)) if msg.contains("max_rows") => {}
        other => t.mismatched.push(format!("a join over max_rows rows: expected a max_rows error, got {other:?}")),
    }
    // explain shows where things run.
    let explain = run(
        &mut g,
        "explain format=vitess select o.order_id, p.description from corder o join commerce.product p on o.sku = p.sku",
    )
    .await;
    match explain {
        Ok(rows)
            if rows.iter().any(|r| r[0].contains("nested loop"))
                && rows.iter().any(|r| r[0].contains("Route commerce shard 0")) => {}
        other => t.mismatched.push(format!("explain: {other:?}")),
    }
    // Writes last: they change the rows the queries above read.
    let (dml_matched, dml_mismatched) = crate::differential_dml::compare(&mut g, &mut d).await;
    t.matched += dml_matched;
    t.mismatched.extend(dml_mismatched);
    println!(
        "differential: {} written + {} generated queries + {} writes; {} match a single MariaDB; {} refused by the gateway; {} failed on both; {} known-unsupported shapes refused by name",
        written.len(),
        generated.len(),
        crate::differential_dml::statements().len(),
        t.matched,
        t.refused.len(),
        t.both_failed.len(),
        refused_ok
    );
    for m in &t.refused {
        println!("REFUSED: {m}");
    }
    for m in &t.both_failed {
        println!("BOTH FAILED: {m}");
    }
    for m in &t.mismatched {
        println!("MISMATCH: {m}");
    }
    assert!(t.mismatched.is_empty(), "{} mismatches", t.mismatched.len());
    assert!(t.refused.is_empty(), "{} queries refused", t.refused.len());
    assert!(t.both_failed.is_empty(), "{} corpus queries fail on MariaDB too", t.both_failed.len());
    assert!(t.matched >= 2000, "only {} statements compared", t.matched);
}
