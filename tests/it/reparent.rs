//! Reparenting and failover, each tablet of the shard on its own node so one can be killed
//! alone, and a gateway on a node of its own: PlannedReparentShard under a writer (no client
//! error, every acknowledged write there once, a short pause), its refusals, two reparents at
//! once; an emergency failover with `semi_sync` after SIGKILL of the primary's node (no
//! acknowledged write lost), the old primary rejoining as a replica when it comes back.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::harness::node::{ctl, ctl_err, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port, nats::NatsServer};

/// A node hosting one tablet of `ks/0` (and a gateway, with `gateway`).
pub(crate) fn node(
    nats: &NatsServer,
    id: &str,
    tablet: Option<(&str, &str)>,
    gateway: Option<u16>,
    extra: &[&str],
) -> NodeProc {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut toml = String::new();
    if let Some(port) = gateway {
        toml.push_str(&format!(
            "[gateway]\nlisten = \"127.0.0.1:{port}\"\nauth = \"none\"\nhold_writes_ms = 10000\n\n"
        ));
    }
    if let Some((alias, ttype)) = tablet {
        toml.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"ks\"\nshard = \"0\"\ntype = \"{ttype}\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut args = vec!["--config".to_string(), cfg.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    NodeProc::start_with(&nats.url, id, &args)
}

pub(crate) async fn wait_serving(url: &str, aliases: &[&str]) {
    let url = url.to_string();
    let want: Vec<String> = aliases.iter().map(|a| a.to_string()).collect();
    eventually(Duration::from_secs(120), &format!("{want:?} serving"), || {
        let out = ctl(&url, &["--json", "GetTablets"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let serving: BTreeSet<String> = v["tablets"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .filter(|t| t["health"]["serving"] == true)
                    .filter_map(|t| t["tablet"]["alias"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let ok = want.iter().all(|w| serving.iter().any(|s| s.ends_with(w.trim_start_matches("zone1-"))));
        async move { ok.then_some(()) }
    })
    .await;
}

/// The shard's primary and term; empty when the admin request got no answer (it may reach a
/// hung node's subscription until NATS drops that node).
pub(crate) fn shard_primary(url: &str) -> (String, u64) {
    let out = ctl(url, &["--json", "--timeout", "5", "GetShard", "ks/0"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let s = &v["shard"];
    (s["primary"].as_str().unwrap_or_default().to_string(), s["primary_term"].as_u64().unwrap_or(0))
}

fn tablet_type(url: &str, alias: &str) -> String {
    let out = ctl(url, &["--json", "GetTablets", "--keyspace", "ks"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["tablets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tablet"]["alias"] == alias))
        .and_then(|t| t["tablet"]["tablet_type"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Waits until the replaced primary zone1-100 is a serving replica whose `query` (a count)
/// answers `want`.
async fn rejoined(url: &str, query: &str, want: usize) {
    let u = url.to_string();
    eventually(Duration::from_secs(60), "zone1-100 rejoined as a replica", || {
        let t = tablet_type(&u, "zone1-0000000100");
        async move { (t == "replica").then_some(()) }
    })
    .await;
    wait_serving(url, &["zone1-100"]).await;
    let (u, q) = (url.to_string(), query.to_string());
    eventually(Duration::from_secs(30), &format!("zone1-100 answers {want} to {query}"), || {
        let out = ctl(&u, &["ExecuteFetchAsDba", "zone1-100", &q]);
        let ok = String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == want.to_string());
        async move { ok.then_some(()) }
    })
    .await;
}

/// What a writer saw: acknowledged ids, errors, the longest wait for one insert, and when
/// each acknowledgement came.
#[derive(Default)]
pub(crate) struct Writes {
    pub acked: Mutex<Vec<(u64, Instant)>>,
    pub errors: Mutex<Vec<String>>,
    pub longest: Mutex<Duration>,
    pub stop: std::sync::atomic::AtomicBool,
}

/// Inserts ids from `first` up, one autocommit statement at a time, until stopped.
pub(crate) async fn writer(gateway: u16, first: u64, w: Arc<Writes>) {
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(gateway).user(Some("root"));
    let mut conn: Option<mysql_async::Conn> = None;
    let mut id = first;
    while !w.stop.load(std::sync::atomic::Ordering::SeqCst) {
        if conn.is_none() {
            match mysql_async::Conn::new(opts.clone().db_name(Some("ks"))).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    w.errors.lock().unwrap().push(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let start = Instant::now();
        let res = tokio::time::timeout(
            Duration::from_secs(20),
            c.query_drop(format!("insert into t (id, v) values ({id}, {id})")),
        )
        .await;
        let took = start.elapsed();
        match res {
            Ok(Ok(())) => {
                w.acked.lock().unwrap().push((id, Instant::now()));
                let mut l = w.longest.lock().unwrap();
                *l = (*l).max(took);
            }
            Ok(Err(e)) => {
                w.errors.lock().unwrap().push(format!("id {id}: {e}"));
                conn = None;
            }
            Err(_) => {
                w.errors.lock().unwrap().push(format!("id {id}: no answer in 20 s"));
                conn = None;
            }
        }
        id += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The ids in `ks.t`, read through the gateway.
pub(crate) async fn stored_ids(gateway: u16) -> Vec<u64> {
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(gateway).user(Some("root"));
    let mut c = mysql_async::Conn::new(opts.db_name(Some("ks"))).await.unwrap();
    c.query("select id from t order by id").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn planned_reparent_under_a_writer_pauses_writes_and_loses_nothing() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let gateway = free_port();
    let slow = ["--failpoints=reparent-slow"];
    let _g = node(&nats, "g", None, Some(gateway), &slow);
    let _a = node(&nats, "a", Some(("zone1-100", "replica")), None, &slow);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &slow);
    let _c = node(&nats, "c", Some(("zone1-102", "rdonly")), None, &slow);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102"]).await;
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key, v bigint)"]);

    // Refusals change nothing.
    let e = ctl_err(&url, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-999"]);
    assert!(e.contains("not a tablet of ks/0"), "{e}");
    let e = ctl_err(&url, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-0000000102"]);
    assert!(e.contains("is rdonly: only a replica can become primary"), "{e}");
    let e = ctl_err(&url, &["PlannedReparentShard", "nope/0"]);
    assert!(e.contains("does not exist"), "{e}");
    // A candidate that does not replicate (its SQL thread stopped) cannot catch up: refused.
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "STOP SLAVE SQL_THREAD"]);
    let e = ctl_err(&url, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-101"]);
    assert!(e.contains("zone1-0000000101 is not replicating") && e.contains("nothing was changed"), "{e}");
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "START SLAVE SQL_THREAD"]);
    wait_serving(&url, &["zone1-101"]).await;
    assert_eq!(shard_primary(&url), ("zone1-0000000100".to_string(), 1));

    let w = Arc::new(Writes::default());
    let task = tokio::spawn(writer(gateway, 1, w.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Two at once: one takes the shard's lock (held 2 s by the failpoint), the other is refused.
    let (u1, u2) = (url.clone(), url.clone());
    let first =
        std::thread::spawn(move || ctl(&u1, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-0000000101"]));
    std::thread::sleep(Duration::from_millis(500));
    let second = ctl(&u2, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-0000000101"]);
    let first = first.join().unwrap();
    let out1 = String::from_utf8_lossy(&first.stdout).to_string() + &String::from_utf8_lossy(&first.stderr);
    let out2 = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(first.status.success(), "{out1}");
    assert!(!second.status.success() && out2.contains("being reparented already"), "{out2}");
    eprintln!("PRS: {out1}");
    assert_eq!(shard_primary(&url), ("zone1-0000000101".to_string(), 2));
    // The old primary rejoins as a replica of the new one.
    let u = url.clone();
    eventually(Duration::from_secs(30), "zone1-100 a replica", || {
        let t = tablet_type(&u, "zone1-0000000100");
        async move { (t == "replica").then_some(()) }
    })
    .await;
    wait_serving(&url, &["zone1-100"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // And back: the rejoined tablet replicates correctly, so it can be promoted again.
    let back = ctl_ok(&url, &["PlannedReparentShard", "ks/0", "--avoid-primary", "zone1-0000000101"]);
    eprintln!("PRS back: {back}");
    assert_eq!(shard_primary(&url), ("zone1-0000000100".to_string(), 3));
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    task.await.unwrap();

    let errors = w.errors.lock().unwrap().clone();
    let longest = *w.longest.lock().unwrap();
    let acked: Vec<u64> = w.acked.lock().unwrap().iter().map(|(id, _)| *id).collect();
    eprintln!("PRS under a writer: {} writes acknowledged, longest pause {longest:?}, errors {errors:?}", acked.len());
    assert!(errors.is_empty(), "client errors during PlannedReparentShard: {errors:?}");
    assert!(acked.len() > 100, "too few writes ({})", acked.len());
    assert!(longest < Duration::from_secs(3), "writes paused {longest:?}");
    let stored = stored_ids(gateway).await;
    let stored_set: BTreeSet<u64> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "a row stored twice");
    let missing: Vec<u64> = acked.iter().filter(|id| !stored_set.contains(id)).copied().collect();
    assert!(missing.is_empty(), "acknowledged writes missing: {missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn semi_sync_failover_after_the_primary_node_dies_loses_no_acknowledged_write() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let gateway = free_port();
    let fo = ["--failover", "on", "--primary-down-after-ms", "3000"];
    let _g = node(&nats, "g", None, Some(gateway), &fo);
    let mut a = node(&nats, "a", Some(("zone1-100", "replica")), None, &fo);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &fo);
    let _c = node(&nats, "c", Some(("zone1-102", "replica")), None, &fo);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102"]).await;
    let out = ctl_ok(&url, &["SetKeyspaceDurabilityPolicy", "ks", "--durability-policy", "semi_sync"]);
    assert!(out.contains("semi_sync"), "{out}");
    let e = ctl_err(&url, &["SetKeyspaceDurabilityPolicy", "ks", "--durability-policy", "paxos"]);
    assert!(e.contains("not one of"), "{e}");
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key, v bigint)"]);
    // The primary waits for a replica's acknowledgement.
    let u = url.clone();
    eventually(Duration::from_secs(20), "semi-sync on the primary", || {
        let out = ctl(
            &u,
            &["ExecuteFetchAsDba", "zone1-0000000100", "show global status like 'Rpl_semi_sync_master_clients'"],
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let ok = text.lines().any(|l| l.contains("Rpl_semi_sync_master_clients") && !l.trim_end().ends_with(" 0"));
        async move { ok.then_some(()) }
    })
    .await;

    // Four writers: one whose statement was in flight on the dead node waits for its answer
    // (the gateway's query timeout: NATS does not tell a requester that the node holding its
    // request died), the others show when the new primary takes writes. Under load all four
    // can be in flight at the kill, so a fifth starts right after it: it cannot be.
    let w = Arc::new(Writes::default());
    let mut tasks: Vec<_> = (0..4).map(|k| tokio::spawn(writer(gateway, 1 + k * 1_000_000, w.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.kill9();
    let killed = Instant::now();
    eprintln!("killed the primary's node");
    tasks.push(tokio::spawn(writer(gateway, 1 + 4 * 1_000_000, w.clone())));
    let u = url.clone();
    eventually(Duration::from_secs(60), "a new primary", || {
        let (p, _) = shard_primary(&u);
        async move { (p != "zone1-0000000100" && !p.is_empty()).then_some(()) }
    })
    .await;
    let promoted = killed.elapsed();
    let w2 = w.clone();
    let after = killed + Duration::from_millis(100);
    eventually(Duration::from_secs(30), "a write acknowledged after the kill", || {
        let seen = w2.acked.lock().unwrap().iter().any(|(_, t)| *t > after);
        async move { seen.then_some(()) }
    })
    .await;
    let first_write = w.acked.lock().unwrap().iter().map(|(_, t)| *t).filter(|t| *t > after).min().map(|t| t - killed);
    eprintln!(
        "failover: new primary recorded {promoted:?} after the kill; first acknowledged write after {first_write:?}"
    );
    assert!(first_write.is_some_and(|d| d < Duration::from_secs(20)), "{first_write:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked: Vec<u64> = w.acked.lock().unwrap().iter().map(|(id, _)| *id).collect();
    let stored: BTreeSet<u64> = stored_ids(gateway).await.into_iter().collect();
    let lost: Vec<u64> = acked.iter().filter(|id| !stored.contains(id)).copied().collect();
    eprintln!("{} acknowledged, {} lost, {} client errors", acked.len(), lost.len(), w.errors.lock().unwrap().len());
    assert!(lost.is_empty(), "acknowledged writes lost with semi_sync: {lost:?}");
    let (p, term) = shard_primary(&url);
    assert_eq!(term, 2, "{p}");

    // The old primary comes back: it takes no writes and rejoins as a replica of the new one.
    a.restart();
    rejoined(&url, "select count(*) from t", stored.len()).await;
    let events = ctl_ok(&url, &["GetShard", "ks/0"]);
    assert!(events.contains(&p), "{events}");
}

fn serving_of(url: &str, alias: &str) -> Option<bool> {
    let out = ctl(url, &["--json", "GetTablets", "--keyspace", "ks"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let t = v["tablets"].as_array()?.iter().find(|t| t["tablet"]["alias"] == alias)?.clone();
    t["health"]["serving"].as_bool()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_whose_replication_stalls_leaves_read_routing_until_it_catches_up() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let _a = node(&nats, "a", Some(("zone1-100", "replica")), None, &[]);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &[]);
    wait_serving(&url, &["zone1-100", "zone1-101"]).await;
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key, v bigint)"]);
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "STOP SLAVE SQL_THREAD"]);
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "insert into t values (1, 1)"]);
    let u = url.clone();
    eventually(Duration::from_secs(20), "the stalled replica out of serving", || {
        let s = serving_of(&u, "zone1-0000000101");
        async move { (s == Some(false)).then_some(()) }
    })
    .await;
    let out = ctl_ok(&url, &["--json", "GetTablets", "--keyspace", "ks"]);
    assert!(out.contains("SQL thread stopped"), "{out}");
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "START SLAVE SQL_THREAD"]);
    let u = url.clone();
    eventually(Duration::from_secs(20), "the replica serving again", || {
        let s = serving_of(&u, "zone1-0000000101");
        async move { (s == Some(true)).then_some(()) }
    })
    .await;
    let rows = ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "select count(*) from t"]);
    assert!(rows.lines().any(|l| l.trim() == "1"), "{rows}");

    // SetWritable: only the primary may be opened.
    let e = ctl_err(&url, &["SetWritable", "zone1-101", "true"]);
    assert!(e.contains("only the primary may be writable"), "{e}");
    let read_only = |u: &str| {
        let out = ctl_ok(u, &["ExecuteFetchAsDba", "zone1-100", "select @@global.read_only as ro"]);
        out.lines().any(|l| l.trim() == "1")
    };
    ctl_ok(&url, &["SetWritable", "zone1-100", "false"]);
    assert!(read_only(&url));
    ctl_ok(&url, &["SetWritable", "zone1-100", "true"]);
    assert!(!read_only(&url));
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "insert into t values (2, 2)"]);

    // A failover done outside tessera: zone1-101 was made primary by other tooling; recorded,
    // it takes writes, and the old primary fences itself and replicates from it.
    let u = url.clone();
    eventually(Duration::from_secs(20), "zone1-101 caught up", || {
        let out = ctl(&u, &["ExecuteFetchAsDba", "zone1-101", "select count(*) from t"]);
        let ok = String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "2");
        async move { ok.then_some(()) }
    })
    .await;
    let out = ctl_ok(&url, &["TabletExternallyReparented", "zone1-101"]);
    assert!(out.contains("term 2"), "{out}");
    assert_eq!(shard_primary(&url), ("zone1-0000000101".to_string(), 2));
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-101", "insert into t values (3, 3)"]);
    rejoined(&url, "select count(*) from t", 3).await;
}

/// The `recovery` events kept so far, as `Name: summary`.
async fn recovery_events(nats: &NatsServer) -> Vec<String> {
    use futures::StreamExt;
    let filter = tessera::protocol::subjects::events_filter("recovery", None);
    let events = tessera::client::subscribe_events(nats.client().await, tessera::client::EventsFrom::Start, filter)
        .await
        .unwrap();
    let mut events = Box::pin(events);
    let mut out = Vec::new();
    while let Ok(Some(Ok(ev))) = tokio::time::timeout(Duration::from_secs(2), events.next()).await {
        out.push(format!("{}: {}", ev.event.name, ev.event.summary));
    }
    out
}

fn replicating(url: &str, alias: &str) -> bool {
    let out = ctl(url, &["--json", "ShardReplicationPositions", "ks/0"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["tablets"].as_array().is_some_and(|ps| ps.iter().any(|p| p["alias"] == alias && p["replicating"] == true))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_replica_is_repaired_and_a_frozen_primary_is_replaced_then_fenced() {
    // As `tessera up` configures it: a client silent for 3 pings is dropped, so the hung
    // node's subscriptions (admin queue group, its tablet's) stop swallowing requests.
    let nats = NatsServer::start_with_config("ping_interval: \"1s\"\nping_max: 2");
    let url = nats.url.clone();
    let fo = ["--failover", "on", "--primary-down-after-ms", "3000"];
    let a = node(&nats, "a", Some(("zone1-100", "replica")), None, &fo);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &fo);
    let _c = node(&nats, "c", Some(("zone1-102", "replica")), None, &fo);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102"]).await;
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key, v bigint)"]);
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-100", "insert into t values (1, 1)"]);

    // A replica whose replication was stopped is pointed at its primary again.
    ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-102", "STOP SLAVE"]);
    let u = url.clone();
    eventually(Duration::from_secs(40), "zone1-102 replicating again", || {
        let ok = replicating(&u, "zone1-0000000102");
        async move { ok.then_some(()) }
    })
    .await;

    // A primary that hangs (SIGSTOP: its node answers nothing, its mysqld runs on) is replaced.
    let pid = a.pid().unwrap() as i32;
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let frozen = Instant::now();
    loop {
        let (p, _) = shard_primary(&url);
        if p != "zone1-0000000100" && !p.is_empty() {
            break;
        }
        if frozen.elapsed() > Duration::from_secs(60) {
            for n in [&_b, &_c] {
                let log = n.log();
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|l| {
                        l.contains("failover") || l.contains("lease") || l.contains("Reparent") || l.contains("WARN")
                    })
                    .collect();
                eprintln!("{}:\n{}", n.id, lines.join("\n"));
            }
            panic!("no new primary 60 s after the primary froze");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("frozen primary replaced after {:?}", frozen.elapsed());
    let u = url.clone();
    // Until NATS drops the hung node, an admin request may land on its subscription and get no
    // answer: short timeouts, and a statement that may safely run twice.
    eventually(Duration::from_secs(90), "a write on the new primary", || {
        let p = shard_primary(&u).0;
        let sql = "insert into t values (2, 2) on duplicate key update v = 2";
        let ok = ctl(&u, &["--timeout", "5", "ExecuteFetchAsDba", &p, sql]).status.success();
        async move { ok.then_some(()) }
    })
    .await;
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    // Woken, it sees the newer term: it takes no write, and rejoins as a replica.
    let tc = tessera::backend::TabletClient::new(nats.client().await, "test", Duration::from_secs(10));
    let insert = tessera::protocol::tablet::QueryRequest::Execute {
        sql: "insert into t values (3, 3)".into(),
        binds: Default::default(),
        transaction_id: None,
        options: Default::default(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tc.query("zone1-0000000100", &insert).await;
    assert!(refused.is_err(), "the replaced primary took a write: {refused:?}");
    rejoined(&url, "select count(*) from t where id = 2", 1).await;
    let events = recovery_events(&nats).await;
    eprintln!("{events:#?}");
    // One failover: a late or repeated one would have replaced the new primary too.
    assert_eq!(shard_primary(&url).1, 2, "{events:#?}");
    for name in
        ["ReplicaRepaired", "PrimaryDown", "ReparentCompleted", "FailoverCompleted", "PrimaryFenced", "PrimaryRejoined"]
    {
        assert!(events.iter().any(|e| e.starts_with(name)), "no {name} event: {events:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_switched_off_waits_and_unreachable_tablets_are_refused_or_skipped() {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let fo = ["--failover", "on", "--primary-down-after-ms", "2000"];
    let _g = node(&nats, "g", None, None, &fo);
    let mut a = node(&nats, "a", Some(("zone1-100", "replica")), None, &fo);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &fo);
    let mut c = node(&nats, "c", Some(("zone1-102", "replica")), None, &fo);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102"]).await;
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    let out = ctl_ok(&url, &["SetFailover", "ks/0", "off"]);
    assert!(out.contains("automatic failover off for ks/0"), "{out}");

    // A candidate whose node is gone: refused, nothing changes.
    c.kill9();
    let e = ctl_err(&url, &["PlannedReparentShard", "ks/0", "--new-primary", "zone1-102"]);
    assert!(e.contains("zone1-0000000102 is unreachable") && e.contains("nothing was changed"), "{e}");
    assert_eq!(shard_primary(&url), ("zone1-0000000100".to_string(), 1));

    // The primary's node dies with failover off for its shard: nobody replaces it.
    a.kill9();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(shard_primary(&url), ("zone1-0000000100".to_string(), 1));
    // Switched on: the one reachable replica is promoted; the dead one is reported, not waited for.
    ctl_ok(&url, &["SetFailover", "ks", "on"]);
    let u = url.clone();
    eventually(Duration::from_secs(60), "zone1-101 primary", || {
        let p = shard_primary(&u);
        async move { (p == ("zone1-0000000101".to_string(), 2)).then_some(()) }
    })
    .await;
    let events = recovery_events(&nats).await;
    assert!(
        events.iter().any(|e| e.starts_with("ReparentCompleted") && e.contains("not repointed: zone1-0000000102")),
        "{events:#?}"
    );
}
