//! Failpoints: places that fail on purpose so tests can prove a failure is contained. Off
//! unless the environment variable `TESSERA_FAILPOINTS` lists them (comma-separated), and then
//! they fire only for statements that carry the marker `failpoint:<name>` (in a comment, say).
//!
//! - `session-panic`: the gateway session panics while running the statement.
//! - `tablet-panic`: the tablet's query service panics while running it.

use std::sync::OnceLock;

fn armed_set() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("TESSERA_FAILPOINTS")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    })
}

/// Panics when failpoint `name` is armed and `sql` carries its marker.
pub fn panic_if(name: &str, sql: &str) {
    let armed = armed_set();
    if !armed.is_empty() && armed.iter().any(|a| a == name) && sql.contains(&format!("failpoint:{name}")) {
        panic!("failpoint {name}");
    }
}
