//! Online MoveTables and Reshard while a load generator inserts, updates and deletes rows
//! through the gateway: copy, replay, VDiff, SwitchTraffic, ReverseTraffic, Complete, with the
//! target node killed mid-copy and mid-replay and the source mysqld killed mid-copy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tessera::vindex::functional::hash_u64;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port};

/// What the load generator was told succeeded: id -> email (None: deleted). Ids whose last
/// write failed are uncertain (it may or may not have happened) and only checked for
/// duplicates.
#[derive(Default)]
struct Load {
    expected: Mutex<BTreeMap<u64, Option<String>>>,
    uncertain: Mutex<BTreeSet<u64>>,
    errors: Mutex<Vec<(Instant, String)>>,
    acked: AtomicU64,
    stop: AtomicBool,
    /// Set to pause the generator; it sets `idle` once no write is in flight.
    pause: AtomicBool,
    idle: AtomicBool,
}

impl Load {
    /// Pauses the writes (for a consistent check).
    async fn pause(&self) {
        self.pause.store(true, Ordering::SeqCst);
        while !self.idle.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn resume(&self) {
        self.idle.store(false, Ordering::SeqCst);
        self.pause.store(false, Ordering::SeqCst);
    }

    fn errors_between(&self, from: Instant, to: Instant) -> Vec<String> {
        let e = self.errors.lock().unwrap();
        e.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, m)| m.clone()).collect()
    }
}

async fn run_load(pool: mysql_async::Pool, load: Arc<Load>) {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next_id = 100_000u64;
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        if load.pause.load(Ordering::SeqCst) {
            load.idle.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        n += 1;
        let present: Vec<u64> = {
            let e = load.expected.lock().unwrap();
            let ids: Vec<u64> = e.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect();
            if ids.is_empty() {
                vec![]
            } else {
                vec![ids[(seed % ids.len() as u64) as usize]]
            }
        };
        let (id, sql, after) = match (n % 5, present.first()) {
            (0 | 1, _) | (_, None) => {
                next_id += 1;
                let email = format!("new{next_id}");
                (
                    next_id,
                    format!("insert into customer (customer_id, email) values ({next_id}, '{email}')"),
                    Some(email),
                )
            }
            (4, Some(&id)) => (id, format!("delete from customer where customer_id = {id}"), None),
            (_, Some(&id)) => {
                let email = format!("upd{id}-{n}");
                (id, format!("update customer set email = '{email}' where customer_id = {id}"), Some(email))
            }
        };
        let result = match pool.get_conn().await {
            Ok(mut c) => c.query_drop(&sql).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                load.expected.lock().unwrap().insert(id, after);
                load.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                load.uncertain.lock().unwrap().insert(id);
                load.errors.lock().unwrap().push((Instant::now(), format!("{sql}: {e}")));
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

fn show(nats: &str, wf: &str) -> serde_json::Value {
    let out = ctl(nats, &["--json", "Workflow", wf, "show"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn states(v: &serde_json::Value) -> Vec<String> {
    v["streams"]
        .as_array()
        .map(|a| a.iter().map(|s| s["state"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

async fn wait_running(nats: &str, wf: &str, timeout: Duration) {
    let url = nats.to_string();
    let wf = wf.to_string();
    eventually(timeout, &format!("{wf}: every stream replicating"), || {
        let v = show(&url, &wf);
        let s = states(&v);
        async move { (!s.is_empty() && s.iter().all(|x| x == "Running")).then_some(()) }
    })
    .await;
}

/// Waits until some stream of `wf` is copying and has copied rows.
async fn wait_copying(nats: &str, wf: &str) {
    let url = nats.to_string();
    let wf = wf.to_string();
    eventually(Duration::from_secs(60), &format!("{wf}: copying"), || {
        let v = show(&url, &wf);
        let copying = v["streams"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["state"] == "Copying" && s["rows_copied"].as_u64().unwrap_or(0) > 0));
        async move { copying.then_some(()) }
    })
    .await;
}

fn vdiff_clean(nats: &str, ks: &str, wf: &str, nodes: &[&NodeProc]) {
    let out = ctl(nats, &["--timeout", "60", "VDiff", "--workflow", wf, "--target-keyspace", ks, "create", "--wait"]);
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(0) {
        for n in nodes {
            let log = n.log();
            let lines: Vec<&str> =
                log.lines().filter(|l| l.contains("stream") || l.contains("copied") || l.contains("ERROR")).collect();
            eprintln!("--- node {} (stream lines) ---\n{}", n.id, lines.join("\n"));
        }
        for alias in ["zone1-300", "zone1-400", "zone1-200"] {
            let out = ctl(nats, &["ExecuteFetchAsDba", alias, "select * from _tessera.copy_state"]);
            eprintln!("{alias} copy_state:\n{}", String::from_utf8_lossy(&out.stdout));
            let out = ctl(nats, &["ExecuteFetchAsDba", alias, "select * from _tessera.vreplication"]);
            eprintln!("{alias} vreplication:\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "VDiff of {ks}.{wf} must find no differences:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no differences"), "{text}");
}

/// Switches traffic and returns (how long writes were held in ms, client errors meanwhile).
fn switch(nats: &str, load: &Load, kind: &str, ks: &str, wf: &str, action: &str) -> (u64, Vec<String>) {
    let started = Instant::now();
    let out = ctl_ok(nats, &["--timeout", "120", kind, "--workflow", wf, "--target-keyspace", ks, action]);
    let ended = Instant::now();
    let held = out
        .lines()
        .find_map(|l| l.split("writes were held ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no hold time in:\n{out}"));
    (held, load.errors_between(started, ended))
}

/// Rows of `customer` seen through one shard target (on a connection of its own: a `use`
/// sticks to the connection, and the load generator's pooled ones must keep routing by vindex).
async fn shard_rows(gateway: u16, target: &str) -> BTreeMap<u64, String> {
    let mut c = mysql_async::Conn::new(gateway_opts(gateway)).await.unwrap();
    c.query_drop(format!("use {target}")).await.unwrap();
    let rows: Vec<(u64, String)> = c.query("select customer_id, email from customer").await.unwrap();
    let _ = c.disconnect().await;
    rows.into_iter().collect()
}

/// Every acknowledged row is present exactly once, on the shard its keyspace id names.
fn check(load: &Load, shards: &[(&str, BTreeMap<u64, String>)]) {
    let expected = load.expected.lock().unwrap();
    let uncertain = load.uncertain.lock().unwrap();
    let mut seen: BTreeMap<u64, (&str, &String)> = BTreeMap::new();
    for (shard, rows) in shards {
        for (id, email) in rows {
            if let Some((other, _)) = seen.insert(*id, (shard, email)) {
                panic!("customer {id} is on both {other} and {shard}");
            }
            let right = match *shard {
                "-80" => hash_u64(*id)[0] < 0x80,
                "80-" => hash_u64(*id)[0] >= 0x80,
                _ => true,
            };
            assert!(right, "customer {id} is on {shard}, not the shard of its keyspace id");
        }
    }
    let mut checked = 0;
    for (id, want) in expected.iter() {
        if uncertain.contains(id) {
            continue;
        }
        checked += 1;
        match (want, seen.get(id)) {
            (Some(e), Some((_, got))) => assert_eq!(&e, got, "customer {id}: last acknowledged email"),
            (Some(e), None) => panic!("customer {id} ({e}) was acknowledged but is missing"),
            (None, Some((s, _))) => panic!("customer {id} was deleted but is on {s}"),
            (None, None) => {}
        }
    }
    assert!(checked > 100, "too few rows checked ({checked})");
}

fn gateway_opts(port: u16) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(port).user(Some("root"))
}

fn mysqld_pid(node: &NodeProc, alias: &str) -> i32 {
    std::fs::read_to_string(node.tablet_dir(alias).join("mysqld.pid")).unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn move_tables_then_reshard_under_load() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let gateway = free_port();
    let mut a = format!("[gateway]\nlisten = \"127.0.0.1:{gateway}\"\nauth = \"none\"\n\n");
    for (alias, ks, shard) in [("zone1-100", "commerce", "0"), ("zone1-200", "customer", "0")] {
        a.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"{ks}\"\nshard = \"{shard}\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    std::fs::write(dir.path().join("a.toml"), a).unwrap();
    let node_a =
        NodeProc::start_with(&nats.url, "a", &["--config".into(), dir.path().join("a.toml").display().to_string()]);
    let url = nats.url.clone();
    let serving = |n: usize| {
        let url = url.clone();
        move || {
            let out = ctl(&url, &["--json", "GetTablets"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let k = v["tablets"]
                .as_array()
                .map(|t| t.iter().filter(|t| t["health"]["serving"] == true).count())
                .unwrap_or(0);
            async move { (k >= n).then_some(()) }
        }
    };
    eventually(Duration::from_secs(90), "2 tablets serving", serving(2)).await;
    ctl_ok(&url, &["InitShardPrimary", "commerce/0", "zone1-100"]);
    ctl_ok(&url, &["InitShardPrimary", "customer/0", "zone1-200"]);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/commerce");
    let f = |name: &str| examples.join(name).display().to_string();
    ctl_ok(&url, &["ApplySchema", "commerce", "--sql-file", &f("schema_commerce.sql")]);
    ctl_ok(&url, &["ApplySchema", "commerce", "--sql-file", &f("schema_customer.sql")]);
    ctl_ok(&url, &["ApplyVSchema", "commerce", "--vschema-file", &f("vschema_commerce_initial.json")]);

    let pool = mysql_async::Pool::new(
        mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(gateway).user(Some("root")),
    );
    let load = Arc::new(Load::default());
    {
        // 3000 customers and orders, in commerce.
        let mut c = pool.get_conn().await.unwrap();
        for chunk in (1..=3000u64).collect::<Vec<_>>().chunks(500) {
            let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 'c{i}')")).collect();
            c.query_drop(format!("insert into customer (customer_id, email) values {}", values.join(", ")))
                .await
                .unwrap();
            let orders: Vec<String> = chunk.iter().map(|i| format!("({i}, {i}, 'sku{}', {})", i % 7, i * 10)).collect();
            c.query_drop(format!(
                "insert into corder (order_id, customer_id, sku, price) values {}",
                orders.join(", ")
            ))
            .await
            .unwrap();
            let mut e = load.expected.lock().unwrap();
            for i in chunk {
                e.insert(*i, Some(format!("c{i}")));
            }
        }
    }
    let load_task = tokio::spawn(run_load(pool.clone(), load.clone()));

    // MoveTables customer, corder: commerce -> customer (unsharded).
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
            "customer,corder",
        ],
    );
    wait_running(&url, "customer.mt", Duration::from_secs(120)).await;
    vdiff_clean(&url, "customer", "mt", &[&node_a]);
    let (held, errors) = switch(&url, &load, "MoveTables", "customer", "mt", "switchtraffic");
    eprintln!("MoveTables SwitchTraffic: writes held {held} ms, {} client errors", errors.len());
    assert!(errors.is_empty(), "client errors during MoveTables SwitchTraffic: {errors:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    ctl_ok(&url, &["MoveTables", "--workflow", "mt", "--target-keyspace", "customer", "complete"]);
    load.pause().await;
    check(&load, &[("0", shard_rows(gateway, "customer/0").await)]);
    load.resume();

    // Reshard customer/0 -> -80, 80- on a second node, killing it mid-copy and mid-replay.
    ctl_ok(&url, &["ApplyVSchema", "customer", "--vschema-file", &f("vschema_customer.json")]);
    ctl_ok(&url, &["CreateShard", "customer/-80", "--allow-overlap"]);
    ctl_ok(&url, &["CreateShard", "customer/80-", "--allow-overlap"]);
    let mut b = String::new();
    for (alias, shard) in [("zone1-300", "-80"), ("zone1-400", "80-")] {
        b.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"customer\"\nshard = \"{shard}\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    std::fs::write(dir.path().join("b.toml"), b).unwrap();
    let mut node_b =
        NodeProc::start_with(&nats.url, "b", &["--config".into(), dir.path().join("b.toml").display().to_string()]);
    eventually(Duration::from_secs(90), "4 tablets serving", serving(4)).await;
    ctl_ok(&url, &["InitShardPrimary", "customer/-80", "zone1-300"]);
    ctl_ok(&url, &["InitShardPrimary", "customer/80-", "zone1-400"]);
    ctl_ok(
        &url,
        &[
            "Reshard",
            "--workflow",
            "rs",
            "--target-keyspace",
            "customer",
            "create",
            "--source-shards",
            "0",
            "--target-shards",
            "-80,80-",
            "--chunk-rows",
            "100",
            "--max-rows-per-sec",
            "600",
        ],
    );
    wait_copying(&url, "customer.rs").await;
    node_b.kill9();
    eprintln!("killed the target node mid-copy");
    tokio::time::sleep(Duration::from_secs(1)).await;
    node_b.restart();
    wait_copying(&url, "customer.rs").await;
    let pid = mysqld_pid(&node_a, "zone1-0000000200");
    let source_down = Instant::now();
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eprintln!("killed the source mysqld (pid {pid}) mid-copy");
    wait_running(&url, "customer.rs", Duration::from_secs(180)).await;
    let source_back = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    node_b.kill9();
    eprintln!("killed the target node mid-replay");
    tokio::time::sleep(Duration::from_secs(2)).await;
    node_b.restart();
    wait_running(&url, "customer.rs", Duration::from_secs(60)).await;
    vdiff_clean(&url, "customer", "rs", &[&node_a, &node_b]);

    let (held, errors) = switch(&url, &load, "Reshard", "customer", "rs", "switchtraffic");
    eprintln!("Reshard SwitchTraffic: writes held {held} ms, {} client errors", errors.len());
    assert!(errors.is_empty(), "client errors during Reshard SwitchTraffic: {errors:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Back and forth: the reverse streams kept shard 0 current.
    let (held_back, errors) = switch(&url, &load, "Reshard", "customer", "rs", "reversetraffic");
    eprintln!("Reshard ReverseTraffic: writes held {held_back} ms, {} client errors", errors.len());
    assert!(errors.is_empty(), "client errors during ReverseTraffic: {errors:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (held_again, errors) = switch(&url, &load, "Reshard", "customer", "rs", "switchtraffic");
    assert!(errors.is_empty(), "client errors during the second SwitchTraffic: {errors:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctl_ok(&url, &["Reshard", "--workflow", "rs", "--target-keyspace", "customer", "complete"]);
    load.pause().await;
    check(
        &load,
        &[("-80", shard_rows(gateway, "customer/-80").await), ("80-", shard_rows(gateway, "customer/80-").await)],
    );
    load.resume();

    // A second reshard on the result: -80 into -40, 40-80 (a third node), still under load.
    ctl_ok(&url, &["CreateShard", "customer/-40", "--allow-overlap"]);
    ctl_ok(&url, &["CreateShard", "customer/40-80", "--allow-overlap"]);
    let mut c3 = String::new();
    for (alias, shard) in [("zone1-500", "-40"), ("zone1-600", "40-80")] {
        c3.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"customer\"\nshard = \"{shard}\"\nmysql_port = {}\n\n",
            free_port()
        ));
    }
    std::fs::write(dir.path().join("c.toml"), c3).unwrap();
    let node_c =
        NodeProc::start_with(&nats.url, "c", &["--config".into(), dir.path().join("c.toml").display().to_string()]);
    eventually(Duration::from_secs(90), "6 tablets serving", serving(6)).await;
    ctl_ok(&url, &["InitShardPrimary", "customer/-40", "zone1-500"]);
    ctl_ok(&url, &["InitShardPrimary", "customer/40-80", "zone1-600"]);
    ctl_ok(
        &url,
        &[
            "Reshard",
            "--workflow",
            "rs2",
            "--target-keyspace",
            "customer",
            "create",
            "--source-shards",
            "-80",
            "--target-shards",
            "-40,40-80",
        ],
    );
    wait_running(&url, "customer.rs2", Duration::from_secs(120)).await;
    vdiff_clean(&url, "customer", "rs2", &[&node_b, &node_c]);
    let (held2, errors) = switch(&url, &load, "Reshard", "customer", "rs2", "switchtraffic");
    eprintln!("second Reshard SwitchTraffic: writes held {held2} ms, {} client errors", errors.len());
    assert!(errors.is_empty(), "client errors during the second reshard's SwitchTraffic: {errors:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    ctl_ok(&url, &["Reshard", "--workflow", "rs2", "--target-keyspace", "customer", "complete"]);
    load.stop.store(true, Ordering::Relaxed);
    load_task.await.unwrap();
    let (low, mid) = (shard_rows(gateway, "customer/-40").await, shard_rows(gateway, "customer/40-80").await);
    for id in low.keys() {
        assert!(hash_u64(*id)[0] < 0x40, "customer {id} on -40");
    }
    for id in mid.keys() {
        assert!((0x40..0x80).contains(&hash_u64(*id)[0]), "customer {id} on 40-80");
    }
    let mut lower: BTreeMap<u64, String> = low;
    lower.extend(mid);
    check(&load, &[("-80", lower), ("80-", shard_rows(gateway, "customer/80-").await)]);
    let all_errors = load.errors.lock().unwrap().len();
    let outside: Vec<String> = {
        let e = load.errors.lock().unwrap();
        e.iter().filter(|(t, _)| *t < source_down || *t > source_back).map(|(_, m)| m.clone()).collect()
    };
    assert!(outside.is_empty(), "client errors while every mysqld was up: {outside:?}");
    eprintln!(
        "load: {} writes acknowledged, {all_errors} failed (all while the source mysqld was down); holds {held}/{held_back}/{held_again} ms",
        load.acked.load(Ordering::Relaxed)
    );
    // Orders came along (VDiff compared them); they are all still readable through the gateway.
    let mut c = pool.get_conn().await.unwrap();
    // Pooled connections keep their `use` target: name the whole keyspace again.
    c.query_drop("use customer").await.unwrap();
    let orders: u64 = c.query_first("select count(*) from customer.corder").await.unwrap().unwrap();
    let mut per_shard = Vec::new();
    for shard in ["-40", "40-80", "80-"] {
        c.query_drop(format!("use customer/{shard}")).await.unwrap();
        let n: u64 = c.query_first("select count(*) from corder").await.unwrap().unwrap();
        per_shard.push(n);
    }
    let topo = ctl_ok(&url, &["GetKeyspace", "customer"]);
    assert_eq!(orders, 3000, "orders per shard {per_shard:?}; keyspace:\n{topo}");
    drop(node_c);
    drop(node_b);
    drop(node_a);
}
