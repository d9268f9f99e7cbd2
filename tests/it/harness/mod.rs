//! Real processes for integration tests: nats-server with JetStream, tessera nodes, ctl.
//! Everything binds free loopback ports, lives in temp dirs, and is killed on drop.

pub mod browser;
pub mod cluster;
pub mod mariadb;
pub mod nats;
pub mod node;
pub mod raw;
pub mod s3;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, never one this test process was handed before (the kernel
/// may give a released port out again at once: a gateway once got its own node's HTTP port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first of `n` consecutive free ports.
pub fn free_port_run(n: u16) -> u16 {
    free_port_runs(n, &[0])
}

/// A port `p` such that `p + offset .. p + offset + n` is free for each offset (a NATS
/// cluster's client, route and monitoring ports).
pub fn free_port_runs(n: u16, offsets: &[u16]) -> u16 {
    loop {
        let base = free_port();
        let top = offsets.iter().max().copied().unwrap_or(0);
        if base.checked_add(top + n).is_some()
            && offsets.iter().all(|o| {
                (0..n).all(|i| (*o == 0 && i == 0) || std::net::TcpListener::bind(("127.0.0.1", base + o + i)).is_ok())
            })
        {
            return base;
        }
    }
}
