//! The seeds' horizontal resharding walkthrough, verbatim, over the Reshard workflow:
//! CopySchemaShard, SplitClone, SplitDiff, MigrateServedTypes rdonly, replica, master (master
//! refused before the others; --reverse moves it back), ending as Reshard + SwitchTraffic do.
//! The same cluster answers vtctldclient's inspection commands (GetSrvKeyspaces, Validate*,
//! PingTablet, ...).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port};

const SCHEMA: &str =
    "create table customer (customer_id bigint not null, email varchar(128), primary key (customer_id))";
const VSCHEMA: &str = r#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
  "tables": {"customer": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]}}}"#;

fn tablets_toml(tablets: &[(&str, &str)]) -> String {
    tablets
        .iter()
        .map(|(alias, shard)| {
            format!(
                "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"customer\"\nshard = \"{shard}\"\nmysql_port = {}\n\n",
                free_port()
            )
        })
        .collect()
}

async fn serving(url: &str, n: usize) {
    let url = url.to_string();
    eventually(Duration::from_secs(90), &format!("{n} tablets serving"), || {
        let out = ctl(&url, &["--json", "GetTablets"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let k =
            v["tablets"].as_array().map(|t| t.iter().filter(|t| t["health"]["serving"] == true).count()).unwrap_or(0);
        async move { (k >= n).then_some(()) }
    })
    .await;
}

fn fails(url: &str, args: &[&str]) -> String {
    let out = ctl(url, args);
    assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn primary_partition(url: &str) -> Vec<String> {
    let out = ctl_ok(url, &["GetSrvKeyspaces", "customer", "zone1"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let parts = v["zone1"]["partitions"].as_array().cloned().unwrap_or_default();
    let primary = parts.iter().find(|p| p["served_type"] == "PRIMARY").unwrap_or_else(|| panic!("{out}"));
    primary["shard_references"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

fn count_on(url: &str, alias: &str) -> u64 {
    let out = ctl_ok(url, &["--json", "ExecuteFetchAsApp", alias, "select count(*) from customer"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // A cell is the value's bytes.
    let bytes: Vec<u8> = v["result"]["rows"][0][0]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    String::from_utf8(bytes).unwrap().parse().unwrap()
}

/// (streams in state Running, rows copied by all streams) from a node's `/metrics`.
fn stream_metrics(http: std::net::SocketAddr) -> (usize, u64) {
    let Some((200, body)) = crate::harness::node::http_get(http, "/metrics") else { return (0, 0) };
    let samples = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap().samples;
    let value = |s: &prometheus_parse::Sample| match s.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => 0.0,
    };
    let running = samples
        .iter()
        .filter(|s| s.metric == "tessera_vreplication_stream_state" && s.labels.get("state") == Some("Running"))
        .filter(|s| value(s) == 1.0)
        .count();
    let copied =
        samples.iter().filter(|s| s.metric == "tessera_vreplication_rows_copied").map(|s| value(s) as u64).sum();
    (running, copied)
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_walkthrough_and_inspection_commands() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let gateway = free_port();
    let a = format!(
        "[gateway]\nlisten = \"127.0.0.1:{gateway}\"\nauth = \"none\"\n\n{}",
        tablets_toml(&[("zone1-200", "0")])
    );
    std::fs::write(dir.path().join("a.toml"), a).unwrap();
    let _node_a =
        NodeProc::start_with(&url, "a", &["--config".into(), dir.path().join("a.toml").display().to_string()]);
    serving(&url, 1).await;
    ctl_ok(&url, &["InitShardPrimary", "customer/0", "zone1-200"]);
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", SCHEMA]);
    ctl_ok(&url, &["ApplyVSchema", "customer", "--vschema", VSCHEMA]);
    let pool = mysql_async::Pool::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(gateway)
            .user(Some("root"))
            .db_name(Some("customer")),
    );
    let mut conn = pool.get_conn().await.unwrap();
    let values: Vec<String> = (1..=200).map(|i| format!("({i}, 'c{i}@example.com')")).collect();
    conn.query_drop(format!("insert into customer (customer_id, email) values {}", values.join(", "))).await.unwrap();

    ctl_ok(&url, &["CreateShard", "customer/-80", "--allow-overlap"]);
    ctl_ok(&url, &["CreateShard", "customer/80-", "--allow-overlap"]);
    std::fs::write(dir.path().join("b.toml"), tablets_toml(&[("zone1-300", "-80"), ("zone1-400", "80-")])).unwrap();
    let node_b = NodeProc::start_with(&url, "b", &["--config".into(), dir.path().join("b.toml").display().to_string()]);
    serving(&url, 3).await;
    ctl_ok(&url, &["InitShardPrimary", "customer/-80", "zone1-300"]);
    ctl_ok(&url, &["InitShardPrimary", "customer/80-", "zone1-400"]);

    // The walkthrough, as the seeds wrote it.
    let out = ctl_ok(&url, &["CopySchemaShard", "customer/0", "customer/-80"]);
    assert!(out.contains("created table customer"), "{out}");
    ctl_ok(&url, &["CopySchemaShard", "customer/0", "customer/80-"]);
    let out = ctl_ok(&url, &["CopySchemaShard", "zone1-200", "customer/80-"]);
    assert!(out.contains("already identical"), "{out}");
    let out = ctl_ok(&url, &["--timeout", "120", "SplitClone", "customer/0"]);
    assert!(out.contains("customer.split_0"), "{out}");
    let out = ctl_ok(&url, &["--timeout", "120", "SplitDiff", "customer/-80"]);
    assert!(out.contains("no differences"), "{out}");
    ctl_ok(&url, &["--timeout", "120", "SplitDiff", "customer/80-"]);
    // The target node's /metrics: both streams replicating, every row copied.
    let http = node_b.http;
    eventually(Duration::from_secs(20), "stream metrics", || {
        let found = stream_metrics(http);
        async move { (found == (2, 200)).then_some(()) }
    })
    .await;
    let err = fails(&url, &["MigrateServedTypes", "customer/0", "master"]);
    assert!(err.contains("before rdonly and replica"), "{err}");
    assert_eq!(primary_partition(&url), ["0"]);
    ctl_ok(&url, &["MigrateServedTypes", "customer/0", "rdonly"]);
    ctl_ok(&url, &["MigrateServedTypes", "customer/0", "replica"]);
    // replica --reverse sends replica reads back to 0, and master is refused again.
    ctl_ok(&url, &["MigrateServedTypes", "customer/0", "replica", "--reverse"]);
    let err = fails(&url, &["MigrateServedTypes", "customer/0", "master"]);
    assert!(err.contains("before replica"), "{err}");
    ctl_ok(&url, &["MigrateServedTypes", "customer/0", "replica"]);
    ctl_ok(&url, &["--timeout", "120", "MigrateServedTypes", "customer/0", "master"]);
    assert_eq!(primary_partition(&url), ["-80", "80-"]);
    // The same rows, split by the vindex; a write now lands on the new shards.
    let (low, high) = (count_on(&url, "zone1-300"), count_on(&url, "zone1-400"));
    assert_eq!(low + high, 200, "-80 has {low}, 80- has {high}");
    assert!(low > 50 && high > 50, "-80 has {low}, 80- has {high}");
    conn.query_drop("insert into customer (customer_id, email) values (1000, 'after@example.com')").await.unwrap();
    assert_eq!(count_on(&url, "zone1-300") + count_on(&url, "zone1-400"), 201);
    // Back and forth: master --reverse serves from 0 again, with the row written meanwhile.
    ctl_ok(&url, &["--timeout", "120", "MigrateServedTypes", "customer/0", "master", "--reverse"]);
    assert_eq!(primary_partition(&url), ["0"]);
    eventually(Duration::from_secs(30), "the reverse stream brought row 1000 back to 0", || {
        let n = count_on(&url, "zone1-200");
        async move { (n == 201).then_some(()) }
    })
    .await;
    ctl_ok(&url, &["--timeout", "120", "MigrateServedTypes", "customer/0", "master"]);
    assert_eq!(primary_partition(&url), ["-80", "80-"]);
    let n: u64 = conn.query_first("select count(*) from customer").await.unwrap().unwrap();
    assert_eq!(n, 201, "through the gateway");

    // Inspection commands on the same cluster.
    let srv: serde_json::Value = serde_json::from_str(&ctl_ok(&url, &["GetSrvVSchema"])).unwrap();
    assert_eq!(srv["keyspaces"]["customer"]["sharded"], true, "{srv}");
    assert!(ctl_ok(&url, &["PingTablet", "zone1-200"]).contains("answered in"));
    assert!(ctl_ok(&url, &["RefreshState", "zone1-300"]).contains("primary serving"));
    let out = ctl_ok(&url, &["RefreshStateByShard", "customer/80-"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("zone1-")).count(), 1, "{out}");
    assert!(ctl_ok(&url, &["ReloadSchema", "zone1-300"]).contains("1 tables and views in customer"));
    let out = ctl_ok(&url, &["ReloadSchemaKeyspace", "customer"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("zone1-")).count(), 3, "{out}");
    let out = ctl_ok(&url, &["Validate", "--ping-tablets"]);
    assert!(out.contains("no problems"), "{out}");
    assert!(ctl_ok(&url, &["ValidateKeyspace", "customer"]).contains("no problems"));
    assert!(ctl_ok(&url, &["ValidateShard", "customer/-80"]).contains("no problems"));
    assert!(ctl_ok(&url, &["ValidateSchemaShard", "customer/0"]).contains("no problems"));
    assert!(ctl_ok(&url, &["ValidateVersionKeyspace", "customer"]).contains("no problems"));
    let err = fails(&url, &["ValidateShard", "customer/nope"]);
    assert!(err.contains("does not exist"), "{err}");
    let perms = ctl_ok(&url, &["GetPermissions", "zone1-200"]);
    assert!(perms.contains("root"), "{perms}");
    let wfs: serde_json::Value = serde_json::from_str(&ctl_ok(&url, &["GetWorkflows", "customer"])).unwrap();
    let names: Vec<&str> =
        wfs["workflows"].as_array().unwrap().iter().filter_map(|w| w["workflow"]["name"].as_str()).collect();
    assert!(names.contains(&"split_0"), "{wfs}");
    let full: serde_json::Value = serde_json::from_str(&ctl_ok(&url, &["GetFullStatus", "zone1-300"])).unwrap();
    assert_eq!(full["is_shard_primary"], true, "{full}");
    assert!(full["status"]["server_version"].as_str().is_some_and(|v| v.contains("MariaDB")), "{full}");
    assert!(ctl_ok(&url, &["RunHealthCheck", "zone1-400"]).contains("healthy"));
    let err = fails(&url, &["ExecuteFetchAsApp", "zone1-300", "select * from no_such_table"]);
    assert!(err.contains("no_such_table"), "{err}");

    // SleepTablet holds the action lock: a schema change waits behind it, a query does not.
    let sleeper = {
        let url = url.clone();
        std::thread::spawn(move || ctl_ok(&url, &["SleepTablet", "zone1-400", "3s"]))
    };
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    ctl_ok(&url, &["PingTablet", "zone1-400"]);
    assert!(started.elapsed() < Duration::from_millis(1500), "a query waited for SleepTablet");
    ctl_ok(&url, &["ApplySchema", "customer", "--sql", "create table slept (id bigint primary key)"]);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(2000), "ApplySchema did not wait for SleepTablet ({waited:?})");
    let out = sleeper.join().unwrap();
    assert!(out.contains("held its action lock for 3000 ms"), "{out}");
}
