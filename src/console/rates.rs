//! Per-keyspace QPS, latency and error rate of this node's gateway, from its query-log totals
//! sampled every few seconds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::frontend::querylog::{hub, Totals};

const EVERY: Duration = Duration::from_secs(5);

/// One keyspace's rates over the last sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub qps: f64,
    pub avg_ms: f64,
    pub errors_per_sec: f64,
    /// Statements since the process started.
    pub total: u64,
}

struct Samples {
    at: Instant,
    totals: HashMap<String, Totals>,
    rates: HashMap<String, Rate>,
}

fn samples() -> &'static Mutex<Samples> {
    static S: OnceLock<Mutex<Samples>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(Samples { at: Instant::now(), totals: HashMap::new(), rates: HashMap::new() }))
}

/// The rates between two samples `secs` apart.
pub fn rates_between(
    before: &HashMap<String, Totals>,
    now: &HashMap<String, Totals>,
    secs: f64,
) -> HashMap<String, Rate> {
    let secs = secs.max(0.001);
    now.iter()
        .map(|(ks, t)| {
            let b = before.get(ks).copied().unwrap_or_default();
            let count = t.count.saturating_sub(b.count);
            let micros = t.micros.saturating_sub(b.micros);
            let rate = Rate {
                qps: count as f64 / secs,
                avg_ms: if count == 0 { 0.0 } else { micros as f64 / 1000.0 / count as f64 },
                errors_per_sec: t.errors.saturating_sub(b.errors) as f64 / secs,
                total: t.count,
            };
            (ks.clone(), rate)
        })
        .collect()
}

/// Starts sampling on the current actix system.
pub fn spawn_sampler() {
    actix::spawn(async {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let now = hub().keyspace_totals();
            let mut s = samples().lock().unwrap_or_else(|e| e.into_inner());
            let secs = s.at.elapsed().as_secs_f64();
            s.rates = rates_between(&s.totals, &now, secs);
            s.totals = now;
            s.at = Instant::now();
        }
    });
}

/// The latest rate of every keyspace this gateway served.
pub fn current() -> HashMap<String, Rate> {
    samples().lock().unwrap_or_else(|e| e.into_inner()).rates.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deltas_over_the_interval() {
        let t = |count, micros, errors| Totals { count, micros, errors };
        let before = HashMap::from([("a".to_string(), t(10, 10_000, 1))]);
        let now = HashMap::from([("a".to_string(), t(60, 60_000, 6)), ("b".to_string(), t(5, 50_000, 0))]);
        let r = rates_between(&before, &now, 5.0);
        assert_eq!(r["a"], Rate { qps: 10.0, avg_ms: 1.0, errors_per_sec: 1.0, total: 60 });
        assert_eq!(r["b"], Rate { qps: 1.0, avg_ms: 10.0, errors_per_sec: 0.0, total: 5 });
    }
}
