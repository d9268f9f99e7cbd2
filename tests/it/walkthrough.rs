//! `examples/commerce/walkthrough.sh` end to end: MoveTables then Reshard under a writer.

use std::process::Command;

#[test]
fn walkthrough_runs_end_to_end() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/commerce/walkthrough.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("TESSERA_BIN", crate::harness::node::BIN)
        .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .env("TESSERA_PORT_CLAIMS", crate::harness::port_claims())
        .output()
        .expect("run the walkthrough");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "walkthrough failed:\n{stdout}\n{stderr}");
    for line in [
        "=== MoveTables customer, corder: commerce -> customer",
        "=== Reshard customer: 0 -> -80, 80- (node b hosts the new shards)",
        "serving primary  -80 80-",
        "no differences",
        "0 inserts failed",
        "=== Kill node c (both primaries): automatic failover promotes node b's tablets",
        "after-failover@example.com",
        "PrimaryRejoined",
        "walkthrough complete",
    ] {
        assert!(stdout.contains(line), "walkthrough output lacks `{line}`:\n{stdout}");
    }
}
