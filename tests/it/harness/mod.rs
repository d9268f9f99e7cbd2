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

/// Where test processes claim the ports they were handed, so that tests running in parallel
/// (nextest runs each in its own process) never pick the same one.
const CLAIMS: &str = "tessera-test-ports";
/// A claim older than this belongs to a test run long gone.
const CLAIM_STALE: Duration = Duration::from_secs(3 * 3600);
/// Ports are picked below Linux's ephemeral range (32768-60999): there the kernel never hands
/// a port to an outgoing connection. A port picked in the ephemeral range could be taken by a
/// client's connection before the server meant for it started (seen in CI: one of seven
/// MariaDBs of `tessera up` never came up while other tests opened thousands of connections).
const PORTS: std::ops::Range<u16> = 12_000..28_000;

/// A free TCP port on 127.0.0.1, never one this or another test process was handed before
/// (the kernel may give a released port out again at once: a gateway once got its own node's
/// HTTP port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let span = (PORTS.end - PORTS.start) as u128;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100_000 {
        let port = PORTS.start + (uuid::Uuid::new_v4().as_u128() % span) as u16;
        if given.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() || !claim(port) {
            continue;
        }
        given.push(port);
        return port;
    }
    panic!(
        "no free test port in {PORTS:?}: all taken or claimed (claims of live test processes are in {})",
        port_claims().display()
    );
}

/// The directory of port claims; scripts a test runs claim theirs there too
/// (`TESSERA_PORT_CLAIMS`, see examples/commerce/walkthrough.sh).
pub fn port_claims() -> std::path::PathBuf {
    std::env::temp_dir().join(CLAIMS)
}

/// Claims `port` for this test process across processes (the claim file holds its pid);
/// false if a live test process holds it.
fn claim(port: u16) -> bool {
    use std::io::Write;
    let dir = port_claims();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(port.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if claim_held(&path) {
                    return false;
                }
                let _ = std::fs::remove_file(&path);
            }
            // No claims directory (read-only /tmp): fall back to the bind check alone.
            Err(_) => return true,
        }
    }
    false
}

/// A claim holds while its process lives (and for at most [`CLAIM_STALE`]); one whose pid is
/// not written yet holds for a few seconds.
fn claim_held(path: &std::path::Path) -> bool {
    let age = std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    let Some(age) = age else { return false };
    if age > CLAIM_STALE {
        return false;
    }
    match std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
        // SAFETY: signal 0 only checks that the process exists.
        Some(pid) => unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM },
        None => age < Duration::from_secs(10),
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
    let top = offsets.iter().max().copied().unwrap_or(0);
    for _ in 0..10_000 {
        let base = free_port();
        // Below the ephemeral range, as free_port's own ports are.
        if u32::from(base) + u32::from(top) + u32::from(n) > 32_768 {
            continue;
        }
        let run = offsets.iter().flat_map(|o| (0..n).map(move |i| base + o + i)).filter(|p| *p != base);
        if run.clone().all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) && run.clone().all(claim) {
            return base;
        }
    }
    panic!("no free run of {n} ports at offsets {offsets:?} below 32768");
}
