//! Every NATS connection can authenticate: a server that requires a user and password serves
//! nodes, `ctl` and `events` that give them (flags or environment), and refuses, with a clear
//! message, those that do not.

use std::process::Command;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, NodeProc, BIN};

#[tokio::test(flavor = "multi_thread")]
async fn nodes_ctl_and_events_authenticate_to_a_nats_that_requires_it() {
    let nats = NatsServer::start_with_config(
        r#"authorization { users: [ {user: "tessera", password: "s3cret-pw"}, {user: "other", password: "x"} ] }"#,
    );
    let creds = ["--nats-user".to_string(), "tessera".into(), "--nats-password".into(), "s3cret-pw".into()];
    let _node = NodeProc::start_with(&nats.url, "n1", &creds);

    // ctl with flags; with the environment.
    let ok = ctl(&nats.url, &["--nats-user", "tessera", "--nats-password", "s3cret-pw", "CreateKeyspace", "ks"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = Command::new(BIN)
        .args(["ctl", "--nats", &nats.url, "GetKeyspaces"])
        .env("TESSERA_NATS_USER", "tessera")
        .env("TESSERA_NATS_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ks"));

    // Without credentials, or with wrong ones: refused, saying what was tried.
    for args in [vec!["GetKeyspaces"], vec!["--nats-user", "tessera", "--nats-password", "wrong", "GetKeyspaces"]] {
        let out = ctl(&nats.url, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was let in");
        assert!(err.contains("cannot connect to NATS") && err.to_lowercase().contains("authorization"), "{err}");
    }
    let out = Command::new(BIN)
        .args(["events", "--nats", &nats.url, "--nats-token", "nope", "--limit", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("with a token"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(BIN)
        .args(["events", "--nats", &nats.url, "--from-start", "--limit", "1", "--nats-user", "tessera"])
        .env("TESSERA_NATS_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A node with an unreadable credentials file stops at once, naming it.
    let out = Command::new(BIN)
        .args(["node", "--nats", &nats.url, "--id", "n2", "--http", "", "--nats-creds", "/nonexistent.creds"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.creds"));
}
