//! Two-phase commit's cost and the cross-shard deadlock detector's effect (issue 22's figures
//! for docs/PERFORMANCE.md). Not part of the suite: `bash scripts/twopc_bench.sh` runs it.
//!
//! 1. Eight clients, each setting its own pair of rows (one per shard) in one transaction, for
//!    `TESSERA_TWOPC_SECS` seconds in `multi`, then in `twopc`: throughput and latency.
//! 2. Eight clients on eight hot rows (four per shard), each transaction one row of each shard
//!    in a random order, so transactions deadlock across shards: with the detector (the
//!    gateway's default) and without it (`deadlock_detect_after_ms = 0`, as before), in `multi`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::twopc::{cluster, connect, gateway_node_with, ids_by_shard};

#[derive(Default)]
struct Stats {
    ok: u64,
    errors: BTreeMap<u16, u64>,
    latencies: Vec<Duration>,
    /// Time spent in transactions that failed.
    lost: Duration,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.latencies.extend(other.latencies);
        self.lost += other.lost;
    }

    fn line(&mut self, name: &str, secs: u64) -> String {
        self.latencies.sort();
        let pct = |p: f64| {
            self.latencies
                .get(((self.latencies.len() as f64 * p) as usize).min(self.latencies.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        format!(
            "RESULT {name}: {:.0} tx/s, p50 {:.2} ms, p99 {:.2} ms, errors {:?}, client time in failed transactions {:.1} s",
            self.ok as f64 / secs as f64,
            pct(0.5),
            pct(0.99),
            self.errors,
            self.lost.as_secs_f64()
        )
    }
}

/// One client for `secs`: each transaction sets one row of `left` and one of `right` (picked
/// by `pick` from a random number), in the order `pick` says.
async fn client(port: u16, mode: &str, secs: u64, seed: u64, pick: impl Fn(u64) -> ((u64, u64), bool)) -> Stats {
    let mut conn = connect(port).await;
    conn.query_drop(format!("set transaction_mode = '{mode}'")).await.unwrap();
    let mut stats = Stats::default();
    let mut x = seed | 1;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ((a, b), swap) = pick(x);
        let (first, second) = if swap { (b, a) } else { (a, b) };
        let started = Instant::now();
        let tx = async {
            conn.query_drop("begin").await?;
            conn.exec_drop("update customer set email = concat('b', ?) where customer_id = ?", (x, first)).await?;
            conn.exec_drop("update customer set email = concat('b', ?) where customer_id = ?", (x, second)).await?;
            conn.query_drop("commit").await
        };
        match tx.await {
            Ok(()) => {
                stats.ok += 1;
                stats.latencies.push(started.elapsed());
            }
            Err(e) => {
                let code = match &e {
                    mysql_async::Error::Server(s) => s.code,
                    _ => 0,
                };
                *stats.errors.entry(code).or_default() += 1;
                stats.lost += started.elapsed();
                let _ = conn.query_drop("rollback").await;
            }
        }
    }
    stats
}

async fn workload(
    port: u16,
    mode: &str,
    secs: u64,
    pick: impl Fn(usize, u64) -> ((u64, u64), bool) + Clone + Send + Sync + 'static,
) -> Stats {
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let (mode, pick) = (mode.to_string(), pick.clone());
            tokio::spawn(
                async move { client(port, &mode, secs, 0x9E37_79B9 * (i as u64 + 1), move |x| pick(i, x)).await },
            )
        })
        .collect();
    let mut all = Stats::default();
    for r in runs {
        all.add(r.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bash scripts/twopc_bench.sh"]
async fn twopc_bench() {
    let secs: u64 = std::env::var("TESSERA_TWOPC_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let c = cluster().await;
    let mut conn = connect(c.gateway.port()).await;
    let values: Vec<String> = (100..200).map(|i| format!("({i}, 'b')")).collect();
    conn.query_drop(format!("insert into customer (customer_id, email) values {}", values.join(", "))).await.unwrap();
    let (left, right) = ids_by_shard(&c, 8);
    assert_eq!((left.len(), right.len()), (8, 8));
    let port = c.gateway.port();

    for mode in ["multi", "twopc"] {
        let (l, r) = (left.clone(), right.clone());
        let mut s = workload(port, mode, secs, move |i, _| ((l[i], r[i]), false)).await;
        println!("{}", s.line(&format!("two-shard transactions, 8 clients, {mode}"), secs));
    }
    // Hot rows: four per shard, any pair, either order.
    let (_off, port_off) = gateway_node_with(&c, "nodetect", "", "deadlock_detect_after_ms = 0");
    for (name, port) in [("detector on", port), ("detector off", port_off)] {
        let (l, r) = (left.clone(), right.clone());
        let pick = move |_: usize, x: u64| ((l[(x % 4) as usize], r[((x >> 8) % 4) as usize]), (x >> 16) % 2 == 0);
        let mut s = workload(port, "multi", secs, pick).await;
        println!("{}", s.line(&format!("hot rows in random order, 8 clients, multi, {name}"), secs));
    }
}
