//! `/metrics`: after known traffic through the gateway, the Prometheus exposition (parsed with
//! a text-format parser) moved by exactly that traffic.

use mysql_async::prelude::Queryable;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::http_get;

/// Every sample of the node's `/metrics`: (name, sorted labels) -> value.
fn scrape(c: &GatewayCluster) -> Vec<prometheus_parse::Sample> {
    let (code, body) = http_get(c.node.http, "/metrics").expect("the node answers /metrics");
    assert_eq!(code, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("not Prometheus text ({e}): {body}")).samples
}

fn value(samples: &[prometheus_parse::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_by_the_traffic_sent() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    crate::harness::cluster::insert_customers(&mut conn, 1..=4).await;
    let before = scrape(&c);
    for i in 1..=10u64 {
        let _: Vec<u64> =
            conn.query(format!("select customer_id from customer where customer_id = {i}")).await.unwrap();
    }
    for _ in 0..3 {
        let _: Vec<u64> = conn.query("select customer_id from customer").await.unwrap();
    }
    for _ in 0..2 {
        assert!(conn.query_drop("select * from no_such_table").await.is_err());
    }
    let after = scrape(&c);
    let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);

    let statements = "tessera_gateway_statements_total";
    let single = [("kind", "select"), ("plan", "single_shard"), ("keyspace", "customer")];
    assert_eq!(delta(statements, &single), 10.0, "single-shard selects");
    let scatter = [("kind", "select"), ("plan", "scatter"), ("keyspace", "customer")];
    assert_eq!(delta(statements, &scatter), 3.0, "scatter selects");
    assert_eq!(delta("tessera_gateway_errors_total", &[("errno", "1146")]), 2.0, "unknown tables");
    assert_eq!(delta("tessera_gateway_statement_duration_seconds_count", &[("plan", "single_shard")]), 10.0);
    // Each single-shard select ran once on one tablet, each scatter on both.
    let on_tablets = delta("tessera_tablet_queries_total", &[("tablet", "zone1-0000000200")])
        + delta("tessera_tablet_queries_total", &[("tablet", "zone1-0000000300")]);
    assert!(on_tablets >= 16.0, "tablet queries moved by {on_tablets}");
    assert!(value(&after, "tessera_gateway_sessions", &[]) >= 1.0);
    assert_eq!(value(&after, "tessera_tablet_serving", &[("tablet", "zone1-0000000300")]), 1.0);
    assert!(value(&after, "tessera_topology_sequence", &[]) > 0.0);
    assert!(delta("tessera_nats_request_duration_seconds_count", &[("request", "execute")]) >= 13.0);
}

/// Reads a streamed HTTP response for up to `for_how_long`, all of it as text.
fn follow(
    addr: std::net::SocketAddr,
    path: &str,
    for_how_long: std::time::Duration,
) -> std::thread::JoinHandle<String> {
    use std::io::{Read, Write};
    let path = path.to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    std::thread::spawn(move || {
        let end = std::time::Instant::now() + for_how_long;
        let mut text = Vec::new();
        let mut buf = [0u8; 8192];
        while std::time::Instant::now() < end {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_log_shows_statements_with_their_errors_and_queryz_counts_them() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let all = follow(c.node.http, "/debug/querylog", std::time::Duration::from_secs(4));
    let errors_only = follow(c.node.http, "/debug/querylog?errors=true", std::time::Duration::from_secs(4));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for i in [7u64, 8, 9] {
        let _: Vec<u64> =
            conn.query(format!("select customer_id from customer where customer_id = {i}")).await.unwrap();
    }
    assert!(conn.query_drop("select * from querylog_missing").await.is_err());
    let (all, errors_only) = (all.join().unwrap(), errors_only.join().unwrap());
    assert!(all.contains("select customer_id from customer where customer_id = 8"), "{all}");
    let failed = all.lines().find(|l| l.contains("querylog_missing")).unwrap_or_else(|| panic!("{all}"));
    assert!(
        failed.contains("\t1146\t") && (failed.contains("doesn't exist") || failed.contains("not found")),
        "{failed}"
    );
    assert!(errors_only.contains("querylog_missing") && !errors_only.contains("customer_id = 8"), "{errors_only}");

    let (code, body) = http_get(c.node.http, "/debug/queryz?format=json").unwrap();
    assert_eq!(code, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shape = stats
        .as_array()
        .and_then(|a| a.iter().find(|s| s["normalised"] == "select customer_id from customer where customer_id = ?"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(shape["count"].as_u64() >= Some(3) && shape["plan"] == "single_shard", "{shape}");
    let (code, html) = http_get(c.node.http, "/debug/queryz").unwrap();
    assert!(code == 200 && html.contains("customer_id = ?"), "{html}");
}
