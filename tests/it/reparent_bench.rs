//! Failover times and lost writes per durability policy (issue 19's figures for
//! docs/PERFORMANCE.md). Not part of the suite: `bash scripts/failover_bench.sh` runs it.
//!
//! Each round starts a fresh shard (three replica tablets on three nodes, a gateway node),
//! sets the policy, makes zone1-100 primary, runs four writers through the gateway for 3 s,
//! then kills the primary's node (with `host`, its mysqld too, as a machine that dies would)
//! and measures, from the kill: the new primary recorded in the topology, and the first write
//! acknowledged after it. Then it counts acknowledged writes missing from the new primary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::eventually;
use crate::harness::nats::NatsServer;
use crate::harness::node::ctl_ok;
use crate::reparent::{node, shard_primary, stored_ids, wait_serving, writer, Writes};

struct Round {
    /// From the kill to the new primary in the topology (none: the old one came back first).
    promoted: Option<Duration>,
    first_write: Duration,
    acked: usize,
    lost: usize,
}

/// `kill`: `node` (the primary's node process), `host` (its node and its mysqld), `mysqld`
/// (its mysqld alone: the tablet restarts it, and failover may or may not come first).
async fn round(policy: &str, kill: &str, down_after_ms: u64) -> Round {
    let nats = NatsServer::start();
    let url = nats.url.clone();
    let gateway = crate::harness::free_port();
    let down = down_after_ms.to_string();
    let fo = ["--failover", "on", "--primary-down-after-ms", down.as_str()];
    let _g = node(&nats, "g", None, Some(gateway), &fo);
    let mut a = node(&nats, "a", Some(("zone1-100", "replica")), None, &fo);
    let _b = node(&nats, "b", Some(("zone1-101", "replica")), None, &fo);
    let _c = node(&nats, "c", Some(("zone1-102", "replica")), None, &fo);
    wait_serving(&url, &["zone1-100", "zone1-101", "zone1-102"]).await;
    ctl_ok(&url, &["SetKeyspaceDurabilityPolicy", "ks", "--durability-policy", policy]);
    ctl_ok(&url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    ctl_ok(&url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key, v bigint)"]);
    let w = Arc::new(Writes::default());
    let tasks: Vec<_> = (0..4).map(|k| tokio::spawn(writer(gateway, 1 + k * 1_000_000, w.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mysqld_pid: Option<i32> = (kill != "node").then(|| {
        let pid = std::fs::read_to_string(a.tablet_dir("zone1-0000000100").join("mysqld.pid")).unwrap();
        pid.trim().parse().unwrap()
    });
    if kill != "mysqld" {
        a.kill9();
    }
    if let Some(pid) = mysqld_pid {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let killed = Instant::now();
    let promoted = if kill == "mysqld" {
        None
    } else {
        let u = url.clone();
        eventually(Duration::from_secs(90), "a new primary", || {
            let (p, _) = shard_primary(&u);
            async move { (p != "zone1-0000000100" && !p.is_empty()).then_some(()) }
        })
        .await;
        Some(killed.elapsed())
    };
    let after = killed + Duration::from_millis(100);
    let w2 = w.clone();
    eventually(Duration::from_secs(60), "a write acknowledged after the kill", || {
        let seen = w2.acked.lock().unwrap().iter().any(|(_, t)| *t > after);
        async move { seen.then_some(()) }
    })
    .await;
    let first_write = w.acked.lock().unwrap().iter().map(|(_, t)| *t).filter(|t| *t > after).min().unwrap() - killed;
    tokio::time::sleep(Duration::from_secs(1)).await;
    w.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked: Vec<u64> = w.acked.lock().unwrap().iter().map(|(id, _)| *id).collect();
    let stored: std::collections::BTreeSet<u64> = stored_ids(gateway).await.into_iter().collect();
    let lost = acked.iter().filter(|id| !stored.contains(id)).count();
    let promoted = promoted.or_else(|| (shard_primary(&url).0 != "zone1-0000000100").then(|| killed.elapsed()));
    Round { promoted, first_write, acked: acked.len(), lost }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bash scripts/failover_bench.sh"]
async fn failover_bench() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let kills: usize = env("TESSERA_FAILOVER_KILLS", "10").parse().unwrap();
    let policy = env("TESSERA_FAILOVER_POLICY", "semi_sync");
    let kill = env("TESSERA_FAILOVER_KILL", "node");
    let down: u64 = env("TESSERA_FAILOVER_DOWN_MS", "5000").parse().unwrap();
    let mut rounds = Vec::new();
    for i in 0..kills {
        let r = round(&policy, &kill, down).await;
        println!(
            "round {i}: new primary after {}, first write after {} ms, {} acknowledged, {} lost",
            r.promoted.map(|d| format!("{} ms", ms(d))).unwrap_or_else(|| "- (the old primary came back)".into()),
            ms(r.first_write),
            r.acked,
            r.lost
        );
        rounds.push(r);
    }
    let stats = |mut v: Vec<u128>| {
        v.sort();
        (v[v.len() / 2], v[v.len() - 1])
    };
    let promoted: Vec<u128> = rounds.iter().filter_map(|r| r.promoted.map(ms)).collect();
    let failovers = promoted.len();
    let (p50, max) = if promoted.is_empty() { (0, 0) } else { stats(promoted) };
    let (w50, wmax) = stats(rounds.iter().map(|r| ms(r.first_write)).collect());
    let lost: usize = rounds.iter().map(|r| r.lost).sum();
    let acked: usize = rounds.iter().map(|r| r.acked).sum();
    println!(
        "SUMMARY policy={policy} kill={kill} primary_down_after_ms={down} kills={kills}: {failovers} failovers, \
         new primary p50 {p50} ms max {max} ms; first write p50 {w50} ms max {wmax} ms; acknowledged {acked}, lost {lost}"
    );
}
