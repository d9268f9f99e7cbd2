//! Atomic distributed transactions (`transaction_mode = twopc`) against real MariaDBs: a
//! transaction sets customer 1 (shard -80) and customer 4 (shard 80-) to the same email, and
//! whatever is killed at whichever step of its commit, both rows end equal on the MariaDBs
//! (checked directly) and no XA branch stays prepared. Also: `single` refuses a second shard,
//! and two sessions locking rows on two shards in opposite order are told of their deadlock
//! (1213) at once instead of waiting out the lock wait timeout.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port};

/// The cluster's node: a fast resolver (undecided branches rolled back after 5 s, longer than a paused commit), and tablets
/// that roll back a dead gateway's open transactions after 4 s.
pub(crate) async fn cluster() -> GatewayCluster {
    GatewayCluster::start_opts(
        "transaction_mode = \"twopc\"\n\n[twopc]\nabandon_after_ms = 5000\nresolve_every_ms = 300",
        "pool_size = 32\ntx_timeout_ms = 4000",
        "",
    )
    .await
}

/// A node running only a gateway (`twopc`), with failpoints armed: the process to kill.
pub(crate) fn gateway_node(c: &GatewayCluster, id: &str, failpoints: &str) -> (NodeProc, u16) {
    gateway_node_with(c, id, failpoints, "")
}

/// [`gateway_node`] with more `[gateway]` settings.
pub(crate) fn gateway_node_with(c: &GatewayCluster, id: &str, failpoints: &str, extra: &str) -> (NodeProc, u16) {
    let port = free_port();
    let cfg = c.dir.path().join(format!("{id}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\nauth = \"none\"\ntransaction_mode = \"twopc\"\n{extra}\n"
        ),
    )
    .unwrap();
    let node = NodeProc::start_with(
        &c.nats.url,
        id,
        &["--config".into(), cfg.display().to_string(), format!("--failpoints={failpoints}")],
    );
    (node, port)
}

pub(crate) async fn connect(port: u16) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"))
        .db_name(Some("customer"));
    mysql_async::Conn::new(opts).await.unwrap()
}

/// The email of customer `id` on tablet `alias`'s MariaDB.
fn email_on(c: &GatewayCluster, alias: &str, id: u64) -> String {
    let out = c.on_tablet(alias, &format!("select concat('V=', email) from customer where customer_id = {id}"));
    out.split_whitespace().find_map(|w| w.strip_prefix("V=")).unwrap_or("<none>").to_string()
}

/// Both rows' emails, read on their shards' primaries.
fn both(c: &GatewayCluster) -> (String, String) {
    (email_on(c, "zone1-200", 1), email_on(c, "zone1-300", 4))
}

fn nothing_prepared(c: &GatewayCluster) -> bool {
    ["zone1-200", "zone1-300"].iter().all(|a| c.on_tablet(a, "XA RECOVER").contains("(0 rows"))
}

/// Waits until no transaction is in flight or in doubt, no branch is prepared and both rows
/// agree; returns their value. (`XA RECOVER` does not list a branch its tablet's connection
/// still holds, so the transaction list is what says the resolver is done.)
async fn settled(c: &GatewayCluster, what: &str) -> String {
    eventually(Duration::from_secs(40), what, || {
        let listed = ctl(&c.nats.url, &["DistributedTransaction", "list"]);
        let none_listed = String::from_utf8_lossy(&listed.stdout).contains("no distributed transaction");
        let (a, b) = both(c);
        let ok = (none_listed && a == b && nothing_prepared(c)).then_some(a);
        async move { ok }
    })
    .await
}

/// Sets both rows to `value` in one transaction through the gateway at `port`.
async fn set_both(port: u16, value: &str) -> Result<(), mysql_async::Error> {
    let mut conn = connect(port).await;
    conn.query_drop("begin").await?;
    conn.exec_drop("update customer set email = ? where customer_id = 1", (value,)).await?;
    conn.exec_drop("update customer set email = ? where customer_id = 4", (value,)).await?;
    conn.query_drop("commit").await
}

async fn seed(c: &GatewayCluster) {
    let mut conn = connect(c.gateway.port()).await;
    conn.query_drop("insert into customer (customer_id, email) values (1, 'start'), (4, 'start')").await.unwrap();
}

#[tokio::test]
async fn a_gateway_killed_at_any_step_of_a_commit_leaves_all_or_nothing() {
    let c = cluster().await;
    seed(&c).await;
    // Without faults: both shards or neither, and the record is forgotten.
    set_both(c.gateway.port(), "plain").await.unwrap();
    assert_eq!(both(&c), ("plain".to_string(), "plain".to_string()));
    let listed = ctl_ok(&c.nats.url, &["DistributedTransaction", "list"]);
    assert!(listed.contains("no distributed transaction"), "{listed}");

    // (step, whether the transaction committed): before the decision nothing commits.
    for (i, (step, commits)) in
        [("before-prepare", false), ("after-prepare", false), ("after-decision", true), ("mid-commit", true)]
            .into_iter()
            .enumerate()
    {
        let (mut g, port) = gateway_node(&c, &format!("g{i}"), &format!("twopc-kill-{step}"));
        let before = both(&c).0;
        let value = format!("v-{step}");
        let outcome = set_both(port, &value).await;
        assert!(outcome.is_err(), "{step}: the client must not hear success from a gateway that died");
        g.wait_exit(Duration::from_secs(10));
        assert!(!g.running(), "{step}: the failpoint did not kill the gateway");
        let after = settled(&c, &format!("{step}: both shards agree, nothing prepared")).await;
        let want = if commits { value } else { before };
        if after != want {
            for l in
                c.node.log().lines().filter(|l| l.contains("ransaction") || l.contains("resolver") || l.contains("XA"))
            {
                println!("node: {l}");
            }
            for l in g.log().lines().filter(|l| l.contains("WARN") || l.contains("ERROR")) {
                println!("gateway: {l}");
            }
        }
        assert_eq!(after, want, "{step}: the transaction's outcome");
    }
    let events = ctl_ok(&c.nats.url, &["DistributedTransaction", "list"]);
    assert!(events.contains("no distributed transaction"), "records left: {events}");
}

#[tokio::test]
async fn a_participants_mysqld_killed_during_a_commit_leaves_all_or_nothing() {
    let c = cluster().await;
    seed(&c).await;
    let pid = |alias: &str| -> i32 {
        let f = c.node.tablet_dir(alias).join("mysqld.pid");
        std::fs::read_to_string(f).unwrap().trim().parse().unwrap()
    };
    // (pause where, whose mysqld, committed?): a branch that dies before its prepare rolls the
    // transaction back; one that prepared survives the crash and the commit completes (the
    // first branch, -80, commits before the pause `mid-commit`).
    let (first, second) = ("zone1-0000000200", "zone1-0000000300");
    for (i, (step, victim, commits)) in [
        ("before-prepare", second, false),
        ("before-prepare", first, false),
        ("after-prepare", second, true),
        ("after-decision", first, true),
        ("mid-commit", second, true),
    ]
    .into_iter()
    .enumerate()
    {
        let (_g, port) = gateway_node(&c, &format!("p{i}"), &format!("twopc-pause-{step}"));
        let before = both(&c).0;
        let value = format!("m{i}-{step}");
        let commit = tokio::spawn({
            let value = value.clone();
            async move { set_both(port, &value).await }
        });
        // The gateway pauses 3 s at the step: kill the 80- primary's mysqld meanwhile.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid(victim), libc::SIGKILL) };
        let answer = commit.await.unwrap();
        assert_eq!(answer.is_ok(), commits, "{step} ({victim}): the client's answer: {answer:?}");
        let after = settled(&c, &format!("{step} ({victim}): both shards agree after the mysqld restart")).await;
        assert_eq!(after, if commits { value } else { before }, "{step} ({victim}): the outcome");
    }
}

#[tokio::test]
async fn transaction_modes_and_the_resolver_commands() {
    let c = cluster().await;
    seed(&c).await;
    let mut conn = connect(c.gateway.port()).await;
    let mode: String = conn.query_first("select @@transaction_mode").await.unwrap().unwrap();
    assert_eq!(mode, "twopc", "the gateway's default");
    conn.query_drop("set transaction_mode = 'single'").await.unwrap();
    conn.query_drop("begin").await.unwrap();
    conn.query_drop("update customer set email = 's' where customer_id = 1").await.unwrap();
    let e = conn.query_drop("update customer set email = 's' where customer_id = 4").await.unwrap_err();
    assert!(e.to_string().contains("multi-db transaction attempted"), "{e}");
    conn.query_drop("rollback").await.unwrap();
    let e = conn.query_drop("set transaction_mode = 'xa'").await.unwrap_err();
    assert!(e.to_string().contains("transaction_mode"), "{e}");
    conn.query_drop("set transaction_mode = 'multi'").await.unwrap();
    set_both(c.gateway.port(), "again").await.unwrap();

    // A transaction whose gateway died after the decision, concluded by hand before the
    // resolver would: `list` shows it, `conclude` commits it.
    let (mut g, port) = gateway_node(&c, "gk", "twopc-kill-after-decision");
    assert!(set_both(port, "concluded").await.is_err());
    g.wait_exit(Duration::from_secs(10));
    let listed = ctl_ok(&c.nats.url, &["DistributedTransaction", "list", "customer"]);
    if let Some(dtid) = listed.split_whitespace().find(|w| w.starts_with("tsr")) {
        assert!(listed.contains("commit"), "{listed}");
        let out = ctl_ok(&c.nats.url, &["DistributedTransaction", "conclude", dtid]);
        assert!(out.contains("TransactionCommitted") || out.contains("no distributed"), "{out}");
    }
    assert_eq!(settled(&c, "concluded").await, "concluded");
    // An autocommit write over both shards is a two-phase transaction of its own: a gateway
    // dying after the prepare leaves neither shard changed.
    let (mut g, port) = gateway_node(&c, "ga", "twopc-kill-after-prepare");
    let mut auto = connect(port).await;
    assert!(auto.query_drop("update customer set email = 'auto' where customer_id in (1, 4)").await.is_err());
    g.wait_exit(Duration::from_secs(10));
    assert!(!g.running(), "the autocommit write reached the two-phase commit");
    assert_eq!(settled(&c, "the autocommit write rolled back").await, "concluded");
    let bad = crate::harness::node::ctl_err(&c.nats.url, &["DistributedTransaction", "show", "nope"]);
    assert!(bad.contains("not a distributed transaction id"), "{bad}");
}

#[tokio::test]
async fn a_deadlock_across_shards_is_broken_at_once() {
    let c = cluster().await;
    seed(&c).await;
    let (mut a, mut b) = (connect(c.gateway.port()).await, connect(c.gateway.port()).await);
    for conn in [&mut a, &mut b] {
        conn.query_drop("set transaction_mode = 'multi'").await.unwrap();
        conn.query_drop("begin").await.unwrap();
    }
    a.query_drop("update customer set email = 'a' where customer_id = 1").await.unwrap();
    b.query_drop("update customer set email = 'b' where customer_id = 4").await.unwrap();
    // a waits for b on 80-; then b waits for a on -80: a cycle no single InnoDB sees.
    let a_waits = tokio::spawn(async move {
        let r = a.query_drop("update customer set email = 'a' where customer_id = 4").await;
        (r, Instant::now(), a)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cycle = Instant::now();
    let b_result = b.query_drop("update customer set email = 'b' where customer_id = 1").await;
    let b_done = Instant::now();
    let (a_result, a_done, mut a) = a_waits.await.unwrap();
    let code = |r: &Result<(), mysql_async::Error>| match r {
        Err(mysql_async::Error::Server(e)) => Some(e.code),
        _ => None,
    };
    let (victim_done, survivor) = match (code(&a_result), code(&b_result)) {
        (Some(1213), None) => (a_done, &mut b),
        (None, Some(1213)) => (b_done, &mut a),
        other => panic!("one of the two must get 1213, the other go on: {other:?} ({a_result:?}, {b_result:?})"),
    };
    let took = victim_done.saturating_duration_since(cycle);
    println!("deadlock across shards broken after {} ms", took.as_millis());
    assert!(took < Duration::from_millis(500), "the deadlock took {took:?} to break");
    survivor.query_drop("commit").await.unwrap();
    let (x, y) = both(&c);
    assert_eq!(x, y, "the survivor's transaction committed whole");
}

/// Customer ids on each shard: (on -80, on 80-), `n` of each.
pub(crate) fn ids_by_shard(c: &GatewayCluster, n: usize) -> (Vec<u64>, Vec<u64>) {
    let on = |alias: &str| -> Vec<u64> {
        let out =
            c.on_tablet(alias, "select concat('I=', customer_id) from customer where customer_id >= 100 order by 1");
        out.split_whitespace().filter_map(|w| w.strip_prefix("I=")).filter_map(|v| v.parse().ok()).take(n).collect()
    };
    (on("zone1-200"), on("zone1-300"))
}

/// One client: its pair of rows set to 1, 2, 3... one transaction each; returns (last
/// acknowledged, attempts since then whose outcome is unknown) when stopped.
async fn pair_writer(
    port: u16,
    pair: (u64, u64),
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u64, Vec<u64>) {
    let (mut acked, mut unknown) = (0u64, Vec::new());
    let mut n = 0u64;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("root"))
            .db_name(Some("customer"));
        let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            n += 1;
            let v = n.to_string();
            let tx = async {
                conn.query_drop("begin").await?;
                conn.exec_drop("update customer set email = ? where customer_id = ?", (&v, pair.0)).await?;
                conn.exec_drop("update customer set email = ? where customer_id = ?", (&v, pair.1)).await?;
                conn.query_drop("commit").await
            };
            match tx.await {
                Ok(()) => {
                    acked = n;
                    unknown.clear();
                }
                Err(_) => {
                    unknown.push(n);
                    break;
                }
            }
        }
    }
    (acked, unknown)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_with_kills_every_15_s_commits_nothing_partially() {
    let c = cluster().await;
    let mut conn = connect(c.gateway.port()).await;
    let values: Vec<String> = (100..140).map(|i| format!("({i}, '0')")).collect();
    conn.query_drop(format!("insert into customer (customer_id, email) values {}", values.join(", "))).await.unwrap();
    let (left, right) = ids_by_shard(&c, 4);
    assert_eq!((left.len(), right.len()), (4, 4), "rows on both shards");
    let (mut g, port) = gateway_node(&c, "w", "");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> =
        left.iter().zip(&right).map(|(a, b)| tokio::spawn(pair_writer(port, (*a, *b), stop.clone()))).collect();
    // Every 15 s something dies: the gateway (SIGKILL, then started again), a participant's
    // mysqld (the tablet restarts it), the gateway again.
    for round in 0..3 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        if round == 1 {
            let f = c.node.tablet_dir("zone1-0000000300").join("mysqld.pid");
            let pid: i32 = std::fs::read_to_string(f).unwrap().trim().parse().unwrap();
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        } else {
            g.kill9();
            g.restart();
        }
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    // Everything settles: no branch prepared; each pair's rows equal; each at the client's
    // last acknowledged value, or at an attempt after it whose answer was an error (its
    // outcome unknown to the client: a gateway killed after the decision commits it).
    eventually(Duration::from_secs(40), "no branch prepared", || {
        let ok = nothing_prepared(&c).then_some(());
        async move { ok }
    })
    .await;
    let mut total = 0;
    for ((a, b), (acked, unknown)) in left.iter().zip(&right).zip(&outcomes) {
        let (x, y) = (email_on(&c, "zone1-200", *a), email_on(&c, "zone1-300", *b));
        assert_eq!(x, y, "pair ({a}, {b}) committed partially");
        let stored: u64 = x.parse().unwrap();
        assert!(
            stored == *acked || unknown.contains(&stored),
            "pair ({a}, {b}): stored {stored}, acked {acked}, attempts of unknown outcome since {unknown:?}"
        );
        total += acked;
    }
    println!("{total} transactions acknowledged over 60 s with 3 kills; no partial commit");
    assert!(total > 100, "too few transactions: {total}");
}
