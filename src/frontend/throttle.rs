//! Failed logins slow down per client address, as MySQL's `connection_control` does: after
//! `FREE_FAILURES` consecutive failures from one address, each further failure is answered
//! only after a delay that grows by a second per failure (up to `MAX_DELAY`). A successful
//! login from the address resets it; an address quiet for `FORGET_AFTER` is forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures answered at once.
pub const FREE_FAILURES: u32 = 3;
/// The longest delay before a failure's answer.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses tracked at most (the oldest are dropped beyond it).
const MAX_ADDRESSES: usize = 10_000;

/// Consecutive failed logins per client address.
#[derive(Default)]
pub struct AuthThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl AuthThrottle {
    /// Records a failed login from `host`; returns how many in a row it has now, and how long
    /// to wait before answering.
    pub fn failed(&self, host: &str) -> (u32, Duration) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ADDRESSES {
            map.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
            if map.len() >= MAX_ADDRESSES {
                // Still full: forget the oldest half rather than grow without bound.
                let mut ages: Vec<Instant> = map.values().map(|(_, at)| *at).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                map.retain(|_, (_, at)| *at > cut);
            }
        }
        let entry = map.entry(host.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
        (entry.0, delay_after(entry.0))
    }

    /// A successful login from `host`: its count starts over.
    pub fn succeeded(&self, host: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(host);
    }
}

/// The delay before answering the `n`th failure in a row.
pub fn delay_after(n: u32) -> Duration {
    match n.checked_sub(FREE_FAILURES) {
        None | Some(0) => Duration::ZERO,
        Some(over) => Duration::from_secs(u64::from(over)).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_wait_longer_each_time_until_a_success() {
        let t = AuthThrottle::default();
        let delays: Vec<u64> = (0..6).map(|_| t.failed("10.0.0.1").1.as_secs()).collect();
        assert_eq!(delays, vec![0, 0, 0, 1, 2, 3]);
        assert_eq!(t.failed("10.0.0.2").1, Duration::ZERO, "per address");
        t.succeeded("10.0.0.1");
        assert_eq!(t.failed("10.0.0.1"), (1, Duration::ZERO));
        assert_eq!(delay_after(100), MAX_DELAY);
    }
}
