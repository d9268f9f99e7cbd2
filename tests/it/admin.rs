//! Admin commands through `tessera ctl` against a real node, seen in events and topology.

use std::time::Duration;

use futures::StreamExt;
use tessera::client::{subscribe_events, EventsFrom};
use tessera::protocol::subjects;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_err, ctl_ok, http_get, NodeProc, BIN};

#[tokio::test(flavor = "multi_thread")]
async fn ctl_creates_keyspace_and_shards_seen_in_events_and_topology() {
    let nats = NatsServer::start();
    let node = NodeProc::start(&nats.url, "n1");

    let events =
        subscribe_events(nats.client().await, EventsFrom::Now, subjects::events_filter("topo", None)).await.unwrap();
    futures::pin_mut!(events);

    let out = ctl_ok(&nats.url, &["CreateKeyspace", "customer"]);
    assert!(out.contains("keyspace customer created"), "{out}");
    ctl_ok(&nats.url, &["CreateShard", "customer/-80"]);
    ctl_ok(&nats.url, &["CreateShard", "customer/80-"]);

    let mut names = Vec::new();
    while names.iter().filter(|n: &&String| n.as_str() == "ShardCreated").count() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        names.push(ev.event.name.clone());
    }
    assert_eq!(names[0], "KeyspaceCreated");
    assert!(names.contains(&"ServingPartitionsChanged".to_string()));

    let json = ctl_ok(&nats.url, &["--json", "GetTopology"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let shards = v["topology"]["keyspaces"]["customer"]["shards"].as_object().unwrap();
    assert_eq!(shards.len(), 2);
    assert_eq!(v["topology"]["keyspaces"]["customer"]["serving"]["primary"], serde_json::json!(["-80", "80-"]));

    let text = ctl_ok(&nats.url, &["FindAllShardsInKeyspace", "customer"]);
    assert!(text.contains("-80") && text.contains("80-"), "{text}");
    let text = ctl_ok(&nats.url, &["GetShard", "customer/80-"]);
    assert!(text.contains("key range:  80-"), "{text}");

    // The events command prints the same history, as JSON lines.
    let out = std::process::Command::new(BIN)
        .args(["events", "--nats", &nats.url, "--from-start", "--json", "--filter", "ShardCreated", "--limit", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["name"], "ShardCreated");
    assert_eq!(lines[0]["topo"]["shard"], "-80");

    let (code, body) = http_get(node.http, "/debug/status").unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["node_id"], "n1");
    assert_eq!(status["nats"], "connected");
    assert!(status["topology_seq"].as_u64().unwrap() >= 3, "{status}");
    let (code, page) = http_get(node.http, "/").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("customer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctl_reports_errors_with_nonzero_exit() {
    let nats = NatsServer::start();
    let _node = NodeProc::start(&nats.url, "n1");
    ctl_ok(&nats.url, &["CreateKeyspace", "customer"]);
    ctl_ok(&nats.url, &["CreateShard", "customer/-80"]);

    for bad in ["customer/11", "customer/-1", "customer/1-2", "customer/x-80"] {
        let err = ctl_err(&nats.url, &["CreateShard", bad]);
        assert!(err.contains("invalid shard name"), "{bad}: {err}");
    }
    let err = ctl_err(&nats.url, &["CreateShard", "customer/40-c0"]);
    assert!(err.contains("overlaps existing shard(s) -80"), "{err}");
    let err = ctl_err(&nats.url, &["CreateShard", "nokeyspace/-80"]);
    assert!(err.contains("keyspace `nokeyspace` does not exist"), "{err}");
    let err = ctl_err(&nats.url, &["CreateKeyspace", "customer"]);
    assert!(err.contains("already exists"), "{err}");
    let err = ctl_err(&nats.url, &["DeleteKeyspace", "customer"]);
    assert!(err.contains("--recursive"), "{err}");
    let err = ctl_err(&nats.url, &["GetKeyspace", "nope"]);
    assert!(err.contains("not found"), "{err}");
    let err = ctl_err(&nats.url, &["CreateShard", "no-slash"]);
    assert!(err.contains("<keyspace>/<shard>"), "{err}");

    let err = ctl_err(&nats.url, &["ApplyVSchema", "customer", "--vschema", "{\n  \"sharded\": true,\n  \"tables\": {\n    \"t\": {\"column_vindexes\": [{\"column\": \"id\", \"name\": \"hsh\"}]}\n  }\n}"]);
    assert!(err.contains("line 4") && err.contains("`hsh`"), "{err}");

    ctl_ok(&nats.url, &["DeleteKeyspace", "--recursive", "customer"]);
    let out = ctl_ok(&nats.url, &["GetKeyspaces"]);
    assert!(!out.contains("customer"), "{out}");

    let help = ctl_ok(&nats.url, &["--help"]);
    for cmd in tessera::protocol::admin::AdminRequest::NAMES {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }

    // No node serving: a clear error, not a hang.
    drop(_node);
    let err = ctl_err(&nats.url, &["--timeout", "3", "GetKeyspaces"]);
    assert!(err.contains("no tessera node") || err.contains("no reply"), "{err}");
    // No NATS at all.
    let out = ctl("nats://127.0.0.1:1", &["GetKeyspaces"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to NATS"));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_topology_at_shows_history() {
    let nats = NatsServer::start();
    let _node = NodeProc::start(&nats.url, "n1");
    ctl_ok(&nats.url, &["CreateKeyspace", "customer"]);
    let json = ctl_ok(&nats.url, &["--json", "CreateShard", "customer/-80"]);
    let after_first: serde_json::Value = serde_json::from_str(&json).unwrap();
    let seq = after_first["seq"].as_u64().unwrap();
    ctl_ok(&nats.url, &["CreateShard", "customer/80-"]);
    ctl_ok(&nats.url, &["DeleteKeyspace", "-r", "customer"]);

    let now: serde_json::Value = serde_json::from_str(&ctl_ok(&nats.url, &["--json", "GetTopology"])).unwrap();
    assert!(now["topology"]["keyspaces"].as_object().unwrap().is_empty());

    let then: serde_json::Value =
        serde_json::from_str(&ctl_ok(&nats.url, &["--json", "GetTopology", "--at", &seq.to_string()])).unwrap();
    let shards = then["topology"]["keyspaces"]["customer"]["shards"].as_object().unwrap();
    assert_eq!(shards.keys().collect::<Vec<_>>(), vec!["-80"]);
    assert_eq!(then["topology"]["seq"].as_u64().unwrap(), seq);

    let before: serde_json::Value =
        serde_json::from_str(&ctl_ok(&nats.url, &["--json", "GetTopology", "--at", "0"])).unwrap();
    assert!(before["topology"]["keyspaces"].as_object().unwrap().is_empty());
    let err = ctl_err(&nats.url, &["GetTopology", "--at", "999999"]);
    assert!(err.contains("past the end"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vschema_apply_get_and_validate() {
    let nats = NatsServer::start();
    let _node = NodeProc::start(&nats.url, "n1");
    ctl_ok(&nats.url, &["CreateKeyspace", "commerce"]);
    ctl_ok(&nats.url, &["CreateKeyspace", "customer"]);
    let dir = env!("CARGO_MANIFEST_DIR");
    let customer = format!("{dir}/examples/commerce/vschema_customer.json");
    let commerce = format!("{dir}/examples/commerce/vschema_commerce.json");

    let err = ctl_err(&nats.url, &["ApplyVSchema", "customer", "--vschema-file", &customer]);
    assert!(err.contains("is not a `sequence` table"), "sequences must resolve: {err}");
    ctl_ok(&nats.url, &["ApplyVSchema", "commerce", "--vschema-file", &commerce]);
    let out = ctl_ok(&nats.url, &["ApplyVSchema", "customer", "--vschema-file", &customer, "--dry-run"]);
    assert!(out.contains("dry run"), "{out}");
    let out = ctl_ok(&nats.url, &["GetVSchema", "customer"]);
    assert!(out.contains("has no VSchema"), "dry run must not apply: {out}");
    ctl_ok(&nats.url, &["ApplyVSchema", "customer", "--vschema-file", &customer]);
    let v: serde_json::Value = serde_json::from_str(&ctl_ok(&nats.url, &["GetVSchema", "customer"])).unwrap();
    assert_eq!(v["sharded"], true);
    assert_eq!(v["vindexes"]["hash"]["type"], "hash");
    assert_eq!(v["tables"]["corder"]["auto_increment"]["sequence"], "order_seq");

    let err =
        ctl_err(&nats.url, &["ApplyVSchema", "customer", "--vschema", "{\"sharded\": true, \"tables\": {\"t\": {}}}"]);
    assert!(err.contains("no column_vindexes"), "{err}");
}
