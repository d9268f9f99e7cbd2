//! Failpoints: places that fail on purpose so tests can prove a failure is contained. Off
//! unless the environment variable `TESSERA_FAILPOINTS` lists them (comma-separated), and then
//! they fire only for statements that carry the marker `failpoint:<name>` (in a comment, say).
//!
//! - `session-panic`: the gateway session panics while running the statement.
//! - `tablet-panic`: the tablet's query service panics while running it.
//! - `tablet-slow-reply`: the tablet runs the statement, then waits 6 s before it answers
//!   (past a short `query_timeout_ms`: the gateway must report the outcome unknown, not retry).
//! - `backup-slow-store`: a backup waits 300 ms after storing each file (so a test can kill
//!   the node in the middle of the copy). Armed alone, without a marker.

use std::sync::OnceLock;

fn armed_set() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("TESSERA_FAILPOINTS")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    })
}

/// Whether failpoint `name` is armed and `sql` carries its marker.
fn fires(name: &str, sql: &str) -> bool {
    let armed = armed_set();
    !armed.is_empty() && armed.iter().any(|a| a == name) && sql.contains(&format!("failpoint:{name}"))
}

/// Whether failpoint `name` is armed (for failpoints that need no statement marker).
pub fn armed(name: &str) -> bool {
    armed_set().iter().any(|a| a == name)
}

/// Panics when failpoint `name` is armed and `sql` carries its marker.
pub fn panic_if(name: &str, sql: &str) {
    if fires(name, sql) {
        panic!("failpoint {name}");
    }
}

/// Waits `delay` when failpoint `name` is armed and `sql` carries its marker.
pub async fn delay_if(name: &str, sql: &str, delay: std::time::Duration) {
    if fires(name, sql) {
        tracing::warn!(failpoint = name, ?delay, "failpoint: delaying");
        tokio::time::sleep(delay).await;
    }
}
