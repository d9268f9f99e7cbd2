//! `.creds` files (a user JWT and its nkey seed) on a NATS in operator mode: a node and `ctl`
//! authenticate with them, and a credential past its expiry is refused with a clear message.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use nkeys::KeyPair;

use crate::harness::nats::NatsServer;
use crate::harness::node::{NodeProc, BIN};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A NATS JWT (v2) of `claims`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: serde_json::Value, exp: Option<u64>) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let mut claims = serde_json::json!({
        "jti": format!("{}", uuid_like()),
        "iat": now(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let body = b64(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{body}");
    let sig = issuer.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&sig))
}

fn uuid_like() -> String {
    format!("{:032X}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos())
}

fn creds_file(dir: &std::path::Path, name: &str, account: &KeyPair, exp: Option<u64>) -> String {
    let user = KeyPair::new_user();
    let claims =
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1});
    let token = jwt(account, &user.public_key(), name, claims, exp);
    let text = format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    );
    let path = dir.join(format!("{name}.creds"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn creds_files_authenticate_and_an_expired_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    let system = KeyPair::new_account();
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "test-operator",
        serde_json::json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
        None,
    );
    let limits = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1,
        "consumer": -1, "max_ack_pending": -1, "mem_max_stream_bytes": -1, "disk_max_stream_bytes": -1,
        "max_bytes_required": false});
    let acc_jwt = jwt(
        &operator,
        &account.public_key(),
        "tessera",
        serde_json::json!({"type": "account", "version": 2, "limits": limits}),
        None,
    );
    let sys_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2, "limits": {"subs": -1, "data": -1, "payload": -1, "conn": -1}}),
        None,
    );
    let config = format!(
        "operator: {op_jwt}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {acc_jwt}\n  {}: {sys_jwt}\n}}\n",
        system.public_key(),
        account.public_key(),
        system.public_key()
    );
    let nats = NatsServer::start_with_config(&config);
    let node_creds = creds_file(dir.path(), "node", &account, None);
    let _node = NodeProc::start_with(&nats.url, "n1", &["--nats-creds".into(), node_creds]);

    let short = creds_file(dir.path(), "short", &account, Some(now() + 3));
    let ctl = |creds: &str| {
        Command::new(BIN)
            .args(["ctl", "--nats", &nats.url, "--timeout", "5", "--nats-creds", creds, "GetKeyspaces"])
            .output()
            .unwrap()
    };
    let out = ctl(&short);
    assert!(out.status.success(), "a valid credential: {}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_secs(4));
    let out = ctl(&short);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an expired credential was let in");
    assert!(err.contains("cannot connect to NATS") && err.contains("short.creds"), "{err}");
    assert!(err.to_lowercase().contains("expired") || err.to_lowercase().contains("authorization"), "{err}");
}
