//! Workflow operations besides the happy path: stop/start, DDL on the source stopping a
//! stream with a clear error, Cancel removing the target copy and the routing rules, and bad
//! arguments refused with errors that say what to do.

use std::time::Duration;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_err, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port};

fn streams(url: &str) -> Vec<serde_json::Value> {
    let out = ctl(url, &["--json", "Workflow", "customer.mt", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["streams"].as_array().cloned().unwrap_or_default()
}

async fn wait_state(url: &str, state: &'static str, message: Option<&'static str>) {
    let url = url.to_string();
    eventually(Duration::from_secs(60), &format!("stream {state}"), || {
        let s = streams(&url);
        let ok = !s.is_empty()
            && s.iter().all(|x| {
                x["state"] == state && message.is_none_or(|m| x["message"].as_str().unwrap_or("").contains(m))
            });
        async move { ok.then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_start_ddl_and_cancel() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = String::new();
    for (alias, ks) in [("zone1-100", "commerce"), ("zone1-200", "customer")] {
        cfg.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"{ks}\"\nshard = \"0\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    std::fs::write(dir.path().join("n.toml"), cfg).unwrap();
    let _node =
        NodeProc::start_with(&nats.url, "n", &["--config".into(), dir.path().join("n.toml").display().to_string()]);
    let url = nats.url.clone();
    eventually(Duration::from_secs(90), "2 tablets serving", || {
        let out = ctl(&url, &["--json", "GetTablets"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let n =
            v["tablets"].as_array().map(|t| t.iter().filter(|t| t["health"]["serving"] == true).count()).unwrap_or(0);
        async move { (n >= 2).then_some(()) }
    })
    .await;
    ctl_ok(&url, &["InitShardPrimary", "commerce/0", "zone1-100"]);
    ctl_ok(&url, &["InitShardPrimary", "customer/0", "zone1-200"]);
    ctl_ok(
        &url,
        &[
            "ApplySchema",
            "commerce",
            "--sql",
            "create table customer (customer_id bigint primary key, email varbinary(128))",
        ],
    );
    ctl_ok(&url, &["ApplySchema", "commerce", "--sql", "create table nokey (a int)"]);
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "insert into customer values (1, 'a'), (2, 'b'), (3, 'c')"]);

    // Refusals that name the problem.
    let e = ctl_err(
        &url,
        &[
            "MoveTables",
            "--workflow",
            "x",
            "--target-keyspace",
            "customer",
            "create",
            "--source-keyspace",
            "nope",
            "--tables",
            "customer",
        ],
    );
    assert!(e.contains("source keyspace `nope` does not exist"), "{e}");
    let e = ctl_err(
        &url,
        &[
            "MoveTables",
            "--workflow",
            "x",
            "--target-keyspace",
            "customer",
            "create",
            "--source-keyspace",
            "commerce",
            "--tables",
            "missing",
        ],
    );
    assert!(e.contains("table missing does not exist"), "{e}");
    let e = ctl_err(
        &url,
        &[
            "MoveTables",
            "--workflow",
            "x",
            "--target-keyspace",
            "customer",
            "create",
            "--source-keyspace",
            "commerce",
            "--tables",
            "nokey",
        ],
    );
    assert!(e.contains("table nokey has no primary key"), "{e}");
    let e = ctl_err(&url, &["Workflow", "customer.none", "show"]);
    assert!(e.contains("workflow `customer.none` does not exist"), "{e}");
    let e = ctl_err(
        &url,
        &[
            "Reshard",
            "--workflow",
            "x",
            "--target-keyspace",
            "customer",
            "create",
            "--source-shards",
            "0",
            "--target-shards",
            "-80,80-",
        ],
    );
    assert!(e.contains("does not exist"), "{e}");
    let e = ctl_err(
        &url,
        &[
            "MoveTables",
            "--workflow",
            "bad.name",
            "--target-keyspace",
            "customer",
            "create",
            "--source-keyspace",
            "commerce",
        ],
    );
    assert!(e.contains("workflow name"), "{e}");

    ctl_ok(
        &url,
        &[
            "MoveTables",
            "--workflow",
            "mt",
            "--target-keyspace",
            "customer",
            "create",
            "--source-keyspace",
            "commerce",
            "--tables",
            "customer",
        ],
    );
    wait_state(&url, "Running", None).await;
    let e = ctl_err(&url, &["MoveTables", "--workflow", "mt", "--target-keyspace", "customer", "complete"]);
    assert!(e.contains("has not switched writes"), "{e}");

    // Stop and start: rows written while stopped arrive after the start.
    ctl_ok(&url, &["Workflow", "customer.mt", "stop"]);
    wait_state(&url, "Stopped", None).await;
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "insert into customer values (4, 'd')"]);
    ctl_ok(&url, &["Workflow", "customer.mt", "start"]);
    wait_state(&url, "Running", None).await;
    let url2 = url.clone();
    eventually(Duration::from_secs(30), "row 4 replicated", || {
        let out = ctl_ok(&url2, &["ExecuteFetchAsDba", "zone1-200", "select count(*) from customer"]);
        async move { out.lines().any(|l| l.trim() == "4").then_some(()) }
    })
    .await;

    // DDL on the source stops the stream (on_ddl=stop), naming the statement.
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "alter table customer add column note varchar(10)"]);
    wait_state(&url, "Error", Some("alter table customer add column note")).await;

    // Cancel: the streams stop, the target copy and the routing rules go.
    ctl_ok(&url, &["MoveTables", "--workflow", "mt", "--target-keyspace", "customer", "cancel"]);
    let tables = ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-200", "show tables"]);
    assert!(!tables.lines().any(|l| l.trim() == "customer"), "the target copy must be dropped:\n{tables}");
    let topo = ctl_ok(&url, &["--json", "GetTopology"]);
    let v: serde_json::Value = serde_json::from_str(&topo).unwrap();
    assert!(v["topology"]["routing_rules"].as_array().is_none_or(|r| r.is_empty()), "rules left: {topo}");
    assert!(v["topology"]["keyspaces"]["customer"]["workflows"].as_object().is_none_or(|w| w.is_empty()));
    let rows = ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-200", "select count(*) from _tessera.vreplication"]);
    assert!(rows.lines().any(|l| l.trim() == "0"), "stream rows left:\n{rows}");
}
