//! Least-privilege NATS roles (`tessera::nats_roles`) on a real nats-server: a cluster runs with
//! each process holding only its role, and each role is refused outside its subjects.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::*;
use tessera::nats_roles::{authorization_block, Role, User, ALL};

use crate::harness::nats::NatsServer;
use crate::harness::node::{NodeProc, BIN};

fn password(role: Role) -> String {
    format!("pw-{}-secret", role.name())
}

fn auth_args(role: Role) -> Vec<String> {
    vec!["--nats-user".into(), role.name().into(), "--nats-password".into(), password(role)]
}

fn ctl_as(url: &str, role: Role, args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(["ctl", "--nats", url, "--timeout", "3"]).args(auth_args(role)).args(args).output().unwrap()
}

/// A client of `role` that records what the server refuses.
struct RoleClient {
    client: async_nats::Client,
    refused: Arc<Mutex<Vec<String>>>,
}

impl RoleClient {
    async fn connect(url: &str, role: Role) -> RoleClient {
        let refused = Arc::new(Mutex::new(Vec::new()));
        let sink = refused.clone();
        let client = async_nats::ConnectOptions::with_user_and_password(role.name().into(), password(role))
            .custom_inbox_prefix(role.inbox_prefix())
            .event_callback(move |e| {
                let sink = sink.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = e {
                        sink.lock().unwrap().push(e.to_string());
                    }
                }
            })
            .connect(url)
            .await
            .unwrap();
        RoleClient { client, refused }
    }

    /// Whether the server refused publishing to `subject`.
    async fn publish_refused(&self, subject: &str) -> bool {
        self.client.publish(subject.to_string(), "x".into()).await.unwrap();
        self.client.flush().await.unwrap();
        self.saw_refusal(subject).await
    }

    async fn subscribe_refused(&self, subject: &str) -> bool {
        let _sub = self.client.subscribe(subject.to_string()).await.unwrap();
        self.client.flush().await.unwrap();
        self.saw_refusal(subject).await
    }

    async fn saw_refusal(&self, subject: &str) -> bool {
        for _ in 0..20 {
            let seen =
                self.refused.lock().unwrap().iter().any(|e| e.contains("Permissions Violation") && e.contains(subject));
            if seen {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_works_within_its_subjects_and_is_refused_outside_them() {
    let passwords: Vec<(Role, String)> = ALL.iter().map(|r| (*r, password(*r))).collect();
    let users: Vec<User<'_>> = passwords.iter().map(|(r, p)| User { name: r.name(), password: p, role: *r }).collect();
    let nats = NatsServer::start_with_config(&authorization_block(&users));
    let url = nats.url.clone();

    // A tablet node with the node role; a gateway-only node with the gateway role.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    let port = crate::harness::free_port();
    std::fs::write(
        &cfg,
        format!("[[tablet]]\nalias = \"zone1-100\"\nkeyspace = \"app\"\nshard = \"0\"\nmysql_port = {port}\n"),
    )
    .unwrap();
    let mut args = auth_args(Role::Node);
    args.extend(["--config".into(), cfg.display().to_string()]);
    let _node = NodeProc::start_with(&url, "n1", &args);
    crate::harness::eventually(Duration::from_secs(90), "the tablet registered", || {
        let out = ctl_as(&url, Role::Admin, &["GetTablets"]);
        async move { String::from_utf8_lossy(&out.stdout).contains("zone1-0000000100").then_some(()) }
    })
    .await;
    crate::harness::eventually(Duration::from_secs(60), "a primary", || {
        let out = ctl_as(&url, Role::Admin, &["InitShardPrimary", "app/0", "zone1-100"]);
        async move { out.status.success().then_some(()) }
    })
    .await;

    let gw: SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
    let mut args = auth_args(Role::Gateway);
    args.extend([
        "--role".into(),
        "gateway".into(),
        "--gateway".into(),
        gw.to_string(),
        "--auth".into(),
        "none".into(),
    ]);
    let gateway = NodeProc::start_with(&url, "gw1", &args);
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(gw.port()).user(Some("root"));
    let pool = mysql_async::Pool::new(opts);
    let mut conn = crate::harness::eventually(Duration::from_secs(30), "the gateway serving app", || {
        let pool = pool.clone();
        async move {
            let mut c = pool.get_conn().await.ok()?;
            c.query_drop("CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, v TEXT)").await.ok()?;
            Some(c)
        }
    })
    .await;
    conn.query_drop("INSERT INTO app.t VALUES (1, 'through the gateway role')").await.unwrap();
    let v: Option<String> = conn.query_first("SELECT v FROM app.t WHERE id = 1").await.unwrap();
    assert_eq!(v.as_deref(), Some("through the gateway role"));
    assert!(
        !gateway.log().contains("Permissions Violation"),
        "the gateway role lacks a permission:\n{}",
        gateway.log()
    );
    drop(conn);
    pool.disconnect().await.unwrap();

    // The observer reads events; it cannot run admin commands (ctl says the server refused).
    let out = Command::new(BIN)
        .args(["events", "--nats", &url, "--from-start", "--limit", "1"])
        .args(auth_args(Role::Observer))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ctl_as(&url, Role::Observer, &["GetKeyspaces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Permissions Violation"), "{err}");

    // Each role against subjects outside it.
    let gateway = RoleClient::connect(&url, Role::Gateway).await;
    for s in [
        "tessera.admin.DeleteKeyspace",
        "tessera.tablet.zone1-100.manage",
        "tessera.topo.keyspace.app",
        "$JS.API.STREAM.DELETE.TESSERA_TOPO",
    ] {
        assert!(gateway.publish_refused(s).await, "gateway published to {s}");
    }
    assert!(!gateway.publish_refused("tessera.tablet.zone1-100.query").await);
    for s in ["tessera.admin.>", "_INBOX.admin.>", "tessera.tablet.zone1-100.query"] {
        assert!(gateway.subscribe_refused(s).await, "gateway subscribed to {s}");
    }
    let admin = RoleClient::connect(&url, Role::Admin).await;
    for s in
        ["tessera.tablet.zone1-100.query", "tessera.target.app.0.primary.query", "$JS.API.STREAM.PURGE.TESSERA_TOPO"]
    {
        assert!(admin.publish_refused(s).await, "admin published to {s}");
    }
    assert!(admin.subscribe_refused("_INBOX.gateway.>").await);
    let observer = RoleClient::connect(&url, Role::Observer).await;
    for s in ["tessera.admin.GetKeyspaces", "tessera.tablet.zone1-100.query", "$KV.TESSERA_LEASES.node.n1"] {
        assert!(observer.publish_refused(s).await, "observer published to {s}");
    }
    assert!(observer.subscribe_refused("tessera.tablet.>").await);
    assert!(!observer.subscribe_refused("tessera.events.>").await);

    // The admin role's work was all done by its ctl: the topology is intact.
    let out = ctl_as(&url, Role::Admin, &["GetKeyspaces"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("app"));
}
