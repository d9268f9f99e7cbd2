//! Statements end with their client, and large statements and results cross the NATS hop:
//! a client that disconnects mid-statement frees its tablet connection within a second, KILL
//! acts on gateway sessions, a statement the gateway gives up on is stopped on its tablet; a
//! 10 MiB blob goes in and out; `SELECT *` of a million-row sharded table streams with the
//! node's memory flat.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::ctl_ok;
use crate::harness::raw::Raw;

const COM_QUERY: u8 = 0x03;

fn opts(c: &GatewayCluster, db: Option<&str>) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(c.gateway.port())
        .user(Some("app"))
        .pass(Some("secret"))
        .db_name(db.map(str::to_string))
        .into()
}

fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other}"),
    }
}

/// Statements that look like `pattern` running on a tablet's MariaDB.
fn running(c: &GatewayCluster, alias: &str, pattern: &str) -> usize {
    let sql = format!("select count(*) from information_schema.processlist where info like '{pattern}'");
    let out = ctl_ok(&c.nats.url, &["ExecuteFetchAsDba", alias, &sql]);
    out.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}

async fn until(c: &GatewayCluster, alias: &str, pattern: &str, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if running(c, alias, pattern) == n {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{alias}: `{pattern}` did not reach {n} running in {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_end_with_their_client() {
    let c = GatewayCluster::start_opts("query_timeout_ms = 8000", "pool_size = 48", "").await;

    // A client that leaves during SELECT SLEEP(60) frees the tablet's connection at once.
    let mut raw = Raw::login(c.gateway, "root").expect("login");
    assert_eq!(raw.command(COM_QUERY, b"use customer/-80").map(|p| p[0]), Some(0));
    raw.send(0, b"\x03select sleep(60)");
    until(&c, "zone1-200", "select sleep(60)%", 1, Duration::from_secs(10)).await;
    drop(raw);
    let freed = until(&c, "zone1-200", "select sleep(60)%", 0, Duration::from_secs(5)).await;
    assert!(freed < Duration::from_secs(1), "the tablet's statement ran on for {freed:?} after its client left");

    // Forty of them at once (more than the pool holds were it 32): all freed, the shard serves.
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut raw = Raw::login(c.gateway, "root").expect("login");
        raw.command(COM_QUERY, b"use customer/-80");
        raw.send(0, b"\x03select sleep(60)");
        clients.push(raw);
    }
    until(&c, "zone1-200", "select sleep(60)%", 40, Duration::from_secs(10)).await;
    drop(clients);
    let freed = until(&c, "zone1-200", "select sleep(60)%", 0, Duration::from_secs(5)).await;
    // (Forty KILLs of SLEEP()ing threads at once contend on MariaDB's own mutex: it then retries
    // waking a victim for up to 2 s before its KILL returns.)
    assert!(freed < Duration::from_secs(3), "forty abandoned sleeps took {freed:?} to stop");
    let mut conn = mysql_async::Conn::new(opts(&c, Some("customer"))).await.unwrap();
    let started = Instant::now();
    conn.query_drop("select * from customer where customer_id = 1").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "a point select waited {:?}", started.elapsed());

    // KILL QUERY from another session stops the statement (1317) and the session goes on.
    let mut victim = mysql_async::Conn::new(opts(&c, Some("customer/80-"))).await.unwrap();
    let id: u32 = victim.query_first("select connection_id()").await.unwrap().unwrap();
    let sleeping = tokio::spawn(async move {
        let r = victim.query_drop("select sleep(30)").await;
        (r, victim)
    });
    until(&c, "zone1-300", "select sleep(30)%", 1, Duration::from_secs(10)).await;
    let started = Instant::now();
    conn.query_drop(format!("kill query {id}")).await.unwrap();
    let (r, mut victim) = sleeping.await.unwrap();
    assert_eq!(code(&r.unwrap_err()), 1317);
    assert!(started.elapsed() < Duration::from_secs(2));
    until(&c, "zone1-300", "select sleep(30)%", 0, Duration::from_secs(2)).await;
    let one: Option<u64> = victim.query_first("select 1").await.unwrap();
    assert_eq!(one, Some(1), "KILL QUERY leaves the session open");
    // KILL CONNECTION closes it; ids that are no gateway session's are unknown.
    conn.query_drop(format!("kill {id}")).await.unwrap();
    assert!(victim.query_drop("select 1").await.is_err(), "the killed connection is closed");
    let e = conn.query_drop("kill 999999").await.unwrap_err();
    assert_eq!(code(&e), 1094);
    let mut other =
        mysql_async::Conn::new(mysql_async::OptsBuilder::from_opts(opts(&c, None)).user(Some("root")).pass(Some("")))
            .await
            .unwrap();
    let own: u32 = conn.query_first("select connection_id()").await.unwrap().unwrap();
    let e = other.query_drop(format!("kill query {own}")).await.unwrap_err();
    assert_eq!(code(&e), 1095, "another user's session");

    // A statement the gateway gives up on (query_timeout_ms = 8 s) is stopped on the tablet.
    let started = Instant::now();
    let e = conn.query_drop("select sleep(20)").await.unwrap_err();
    assert_eq!(code(&e), 1969, "{e}");
    assert!(e.to_string().contains("unknown"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
    for alias in ["zone1-200", "zone1-300"] {
        until(&c, alias, "select sleep(20)%", 0, Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_statements_and_results_cross_nats() {
    let c = GatewayCluster::start_opts("max_allowed_packet = 33554432\nmax_rows = 1000", "pool_size = 16", "").await;
    let url = c.nats.url.clone();
    // NATS carries at most 1 MiB here (its default): larger messages go in chunks.
    ctl_ok(&url, &["ApplySchema", "commerce", "--sql", "create table blobs (id bigint primary key, b longblob)"]);
    let mut conn = mysql_async::Conn::new(opts(&c, Some("commerce"))).await.unwrap();
    let blob: Vec<u8> = (0..10 << 20).map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    conn.exec_drop("insert into blobs values (?, ?)", (1, blob.clone())).await.expect("a 10 MiB prepared insert");
    let mut text = b"insert into blobs values (2, _binary'".to_vec();
    for &b in &blob {
        match b {
            0 => text.extend_from_slice(b"\\0"),
            b'\'' | b'\\' => text.extend_from_slice(&[b'\\', b]),
            b => text.push(b),
        }
    }
    text.extend_from_slice(b"')");
    conn.query_drop(&text[..]).await.expect("a 10 MiB text insert");
    for id in [1, 2] {
        let back: Option<Vec<u8>> = conn.exec_first("select b from blobs where id = ?", (id,)).await.unwrap();
        assert!(back.as_deref() == Some(&blob[..]), "blob {id} came back different");
        let back: Option<Vec<u8>> = conn.query_first(format!("select b from blobs where id = {id}")).await.unwrap();
        assert!(back.as_deref() == Some(&blob[..]), "blob {id} came back different (text)");
    }

    // A million rows in the sharded keyspace (loaded on the tablets directly).
    let schema = "create table big (id bigint primary key, v varchar(100))";
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", schema]);
    let vs = PathBuf::from(c.dir.path()).join("big_vschema.json");
    let vschema = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/commerce/vschema_customer.json"),
    )
    .unwrap()
    .replacen(
        "\"tables\": {",
        "\"tables\": {\n    \"big\": { \"column_vindexes\": [{ \"column\": \"id\", \"name\": \"hash\" }] },",
        1,
    );
    std::fs::write(&vs, vschema).unwrap();
    ctl_ok(&url, &["ApplyVSchema", "customer", "--vschema-file", &vs.display().to_string()]);
    for (alias, from, to) in [("zone1-200", 1, 500_000), ("zone1-300", 500_001, 1_000_000)] {
        let sql = format!("insert into big select seq, repeat(char(97 + seq % 26), 90) from seq_{from}_to_{to}");
        ctl_ok(&url, &["ExecuteFetchAsDba", alias, &sql]);
    }
    let mut conn = mysql_async::Conn::new(opts(&c, Some("customer"))).await.unwrap();
    crate::harness::eventually(Duration::from_secs(20), "big in the gateway's VSchema", || {
        let o = opts(&c, Some("customer"));
        async move { mysql_async::Conn::new(o).await.ok()?.query_drop("select 1 from big limit 1").await.ok() }
    })
    .await;
    for (sql, ordered) in [("select * from big", false), ("select id, v from big order by id", true)] {
        let pid = c.node.pid().unwrap_or(0);
        let before = c.node.rss_kib();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
        let seen = peak.clone();
        let sampler = tokio::spawn(async move {
            loop {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
                if let Some(r) = rss {
                    seen.fetch_max(r, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let mut result = conn.query_iter(sql).await.unwrap();
        let (mut n, mut last) = (0u64, 0u64);
        while let Some(row) = result.next().await.unwrap() {
            let id: u64 = row.get(0).unwrap();
            if ordered {
                assert!(id > last, "{sql}: {id} after {last}");
                last = id;
            }
            n += 1;
        }
        drop(result);
        sampler.abort();
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(n, 1_000_000, "{sql}");
        let grown = peak.saturating_sub(before);
        assert!(grown < 96 * 1024, "{sql}: the node grew by {grown} KiB while about 100 MiB of rows passed");
        eprintln!("{sql}: 1,000,000 rows streamed; node RSS {before} KiB before, grew {grown} KiB");
    }
    // A result the gateway must hold (a union's) is bounded, with an error naming the limit.
    let e = conn.query_drop("select id from big union all select customer_id from customer").await.unwrap_err();
    assert!(e.to_string().contains("max_r"), "{e}");
}
