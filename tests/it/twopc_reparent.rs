//! A prepared distributed transaction across reparents: the branch of `ks/0` is prepared on its
//! primary (and, replicated, on its replica) when the gateway dies after the commit decision;
//! a PlannedReparentShard moves the primary, then `DistributedTransaction conclude` commits the
//! branch on the new primary (and the old one gets the commit by replication). Then again with
//! an EmergencyReparentShard after the primary's node and mysqld are killed (semi-sync), and
//! the resolver, on a node started afterwards, completes it on the new primary (its commit
//! waits for the remaining replica's acknowledgement, as every write there does).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl_ok, kill_mysqlds_under, NodeProc};
use crate::harness::{eventually, free_port};
use crate::reparent::{shard_primary, wait_serving};

/// A node with one tablet of `<keyspace>/0` (and a gateway in `twopc`, with `gateway`); the
/// resolver off unless `resolver`, failover off.
fn node(nats: &NatsServer, id: &str, tablet: Option<(&str, &str)>, gateway: Option<u16>, extra: &[&str]) -> NodeProc {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut toml = String::new();
    if let Some(port) = gateway {
        toml.push_str(&format!(
            "[gateway]\nlisten = \"127.0.0.1:{port}\"\nauth = \"none\"\ntransaction_mode = \"twopc\"\n\n"
        ));
    }
    toml.push_str("[twopc]\nresolver = false\n\n");
    if let Some((alias, keyspace)) = tablet {
        toml.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"{keyspace}\"\nshard = \"0\"\ntype = \"replica\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut args = vec!["--config".to_string(), cfg.display().to_string(), "--failover".into(), "off".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    NodeProc::start_with(&nats.url, id, &args)
}

/// A gateway-only node that kills itself right after recording a commit decision.
fn doomed_gateway(nats: &NatsServer, id: &str) -> (NodeProc, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap().keep();
    let cfg = dir.join("gw.toml");
    std::fs::write(
        &cfg,
        format!("role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\nauth = \"none\"\ntransaction_mode = \"twopc\"\n"),
    )
    .unwrap();
    let args = ["--config".into(), cfg.display().to_string(), "--failpoints=twopc-kill-after-decision".into()];
    (NodeProc::start_with(&nats.url, id, &args), port)
}

/// Inserts row `id` into `ks.t` and `other.t` in one transaction; the gateway dies at commit.
async fn prepared_then_orphaned(nats: &NatsServer, id: u64) {
    let (mut g, port) = doomed_gateway(nats, &format!("doomed{id}"));
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(port).user(Some("root"));
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    conn.query_drop("begin").await.unwrap();
    conn.exec_drop("insert into ks.t (id, v) values (?, 'x')", (id,)).await.unwrap();
    conn.exec_drop("insert into other.t (id, v) values (?, 'x')", (id,)).await.unwrap();
    assert!(conn.query_drop("commit").await.is_err(), "the gateway died in its commit");
    g.wait_exit(Duration::from_secs(10));
    assert!(!g.running());
}

/// The transaction `list` shows prepared on `ks/0`, with a commit decision.
fn listed_dtid(url: &str) -> String {
    let out = ctl_ok(url, &["DistributedTransaction", "list"]);
    assert!(out.contains("commit") && out.contains("ks/0"), "{out}");
    out.split_whitespace().find(|w| w.starts_with("tsr")).unwrap_or_default().to_string()
}

fn count_on(url: &str, alias: &str, sql: &str) -> String {
    let out = ctl_ok(url, &["ExecuteFetchAsDba", alias, sql]);
    out.split_whitespace().find_map(|w| w.strip_prefix("N=")).unwrap_or("?").to_string()
}

/// Waits until tablet `alias` holds row `id` of `ks_table` and nothing prepared.
async fn committed_on(url: &str, alias: &str, table: &str, id: u64) {
    let (u, a) = (url.to_string(), alias.to_string());
    let q = format!("select concat('N=', count(*)) from {table} where id = {id}");
    eventually(Duration::from_secs(40), &format!("row {id} of {table} committed on {alias}"), || {
        let rows = count_on(&u, &a, &q);
        let prepared = ctl_ok(&u, &["ExecuteFetchAsDba", &a, "XA RECOVER"]);
        let ok = (rows == "1" && prepared.contains("(0 rows")).then_some(());
        async move { ok }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prepared_transaction_survives_planned_and_emergency_reparents() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let gateway = free_port();
    let _o = node(&nats, "o", Some(("zone1-200", "other")), Some(gateway), &[]);
    let a = node(&nats, "a", Some(("zone1-100", "ks")), None, &[]);
    let mut b = node(&nats, "b", Some(("zone1-101", "ks")), None, &[]);
    // A third tablet, so the shard keeps a replica to acknowledge (semi-sync) after the ERS.
    let _c = node(&nats, "c", Some(("zone1-102", "ks")), None, &[]);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102", "zone1-200"]).await;
    ctl_ok(&url, &["SetKeyspaceDurabilityPolicy", "ks", "--durability-policy", "semi_sync"]);
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["InitShardPrimary", "other/0", "zone1-200"]);
    for ks in ["ks", "other"] {
        ctl_ok(&url, &["ApplySchema", ks, "--sql", "create table t (id bigint primary key, v varchar(16))"]);
    }
    wait_serving(&url, &["zone1-101"]).await;

    // Planned: the branch is prepared on zone1-100 and (replicated) on zone1-101.
    prepared_then_orphaned(&nats, 1).await;
    let dtid = listed_dtid(&url);
    ctl_ok(&url, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-0000000101"]);
    assert_eq!(shard_primary(&url).0, "zone1-0000000101");
    let after = ctl_ok(&url, &["DistributedTransaction", "show", &dtid]);
    assert!(after.contains("ks/0") && after.contains("other/0"), "prepared on the new primary: {after}");
    let out = ctl_ok(&url, &["DistributedTransaction", "conclude", &dtid]);
    assert!(out.contains("TransactionCommitted"), "{out}");
    committed_on(&url, "zone1-101", "t", 1).await;
    committed_on(&url, "zone1-200", "t", 1).await;
    // The demoted primary gets the commit through replication.
    committed_on(&url, "zone1-100", "t", 1).await;

    // Emergency: the primary's node and mysqld die with the branch prepared.
    prepared_then_orphaned(&nats, 2).await;
    listed_dtid(&url);
    b.kill9();
    kill_mysqlds_under(&b.tablet_dir("zone1-0000000101"));
    ctl_ok(&url, &["EmergencyReparentShard", "ks/0", "--new-primary", "zone1-0000000100"]);
    assert_eq!(shard_primary(&url).0, "zone1-0000000100");
    // A node that runs the resolver finds the branch on the new primary and commits it.
    let _r = NodeProc::start_with(&url, "r", &["--failover".into(), "off".into()]);
    committed_on(&url, "zone1-100", "t", 2).await;
    committed_on(&url, "zone1-200", "t", 2).await;
    let events = ctl_ok(&url, &["DistributedTransaction", "list"]);
    assert!(events.contains("no distributed transaction"), "{events}");
    committed_on(&url, "zone1-102", "t", 2).await;
    drop(a);
}
