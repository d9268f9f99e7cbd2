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

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key).
fn ca_and_server_cert(dir: &std::path::Path) -> (String, String, String) {
    let p = |n: &str| dir.join(n).display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("san.ext"),
        "-out",
        &p("server.pem"),
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_required_and_revoked_users_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_server_cert(dir.path());
    let users = |list: &str| {
        format!("tls {{ cert_file: \"{cert}\", key_file: \"{key}\" }}\nauthorization {{ users: [ {list} ] }}")
    };
    let nats = NatsServer::start_with_config(&users(r#"{user: "a", password: "pa"}, {user: "b", password: "pb"}"#));
    let tls = |user: &str, pw: &str| {
        vec![
            "--nats-tls-ca".to_string(),
            ca.clone(),
            "--nats-user".into(),
            user.into(),
            "--nats-password".into(),
            pw.into(),
        ]
    };
    let _node = NodeProc::start_with(&nats.url, "n1", &tls("a", "pa"));
    let ctl_with = |args: Vec<String>, cmd: &str| {
        Command::new(BIN).args(["ctl", "--nats", &nats.url, "--timeout", "5"]).args(args).arg(cmd).output().unwrap()
    };

    // With the CA: served. Without it (TLS required, the server's certificate unknown): refused,
    // saying it could not connect.
    let out = ctl_with(tls("b", "pb"), "GetKeyspaces");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ctl_with(vec!["--nats-user".into(), "b".into(), "--nats-password".into(), "pb".into()], "GetKeyspaces");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot connect to NATS"), "{err}");

    // User b is revoked (removed, the server reloads): b is refused from then on; a carries on.
    nats.reload_with_config(&users(r#"{user: "a", password: "pa"}"#));
    let out = ctl_with(tls("b", "pb"), "GetKeyspaces");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.to_lowercase().contains("authorization"), "{err}");
    let out = ctl_with(tls("a", "pa"), "GetKeyspaces");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
