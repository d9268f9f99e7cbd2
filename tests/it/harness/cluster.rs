//! A whole cluster for gateway tests: NATS, one node with the example keyspaces' tablets and a
//! MySQL gateway that checks passwords, schemas and VSchemas applied.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::nats::NatsServer;
use super::node::{ctl, ctl_ok, NodeProc};

pub struct GatewayCluster {
    pub nats: NatsServer,
    /// Holds the users file and config for the cluster's life.
    pub dir: tempfile::TempDir,
    /// Kept so the node lives (and stops its mysqlds) as long as the cluster.
    pub node: NodeProc,
    pub gateway: SocketAddr,
}

/// Tablets: commerce/0 (primary), customer/-80 (primary + replica), customer/80- (primary).
const TABLETS: [(&str, &str, &str); 4] = [
    ("zone1-100", "commerce", "0"),
    ("zone1-200", "customer", "-80"),
    ("zone1-201", "customer", "-80"),
    ("zone1-300", "customer", "80-"),
];

impl GatewayCluster {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Like [`GatewayCluster::start`], with extra `[gateway]` settings (TOML lines).
    pub async fn start_with(gateway_extra: &str) -> Self {
        Self::start_opts(gateway_extra, "pool_size = 32", "").await
    }

    /// With extra `[gateway]` and per-`[[tablet]]` settings (TOML lines), and failpoints armed
    /// in the node (`tessera::failpoint`).
    pub async fn start_opts(gateway_extra: &str, tablet_extra: &str, failpoints: &str) -> Self {
        Self::start_node_opts("", gateway_extra, tablet_extra, failpoints).await
    }

    /// Like [`GatewayCluster::start_opts`], with extra node-level settings (TOML lines).
    pub async fn start_node_opts(node_extra: &str, gateway_extra: &str, tablet_extra: &str, failpoints: &str) -> Self {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        std::fs::write(
            &users,
            "[[user]]\nname = \"root\"\npassword = \"\"\n\n[[user]]\nname = \"app\"\npassword = \"secret\"\n",
        )
        .unwrap();
        let gateway: SocketAddr = ([127, 0, 0, 1], super::free_port()).into();
        let packet = if gateway_extra.contains("max_allowed_packet") { "" } else { "max_allowed_packet = 16777216\n" };
        let mut toml = format!(
            "{node_extra}\n[gateway]\nlisten = \"{gateway}\"\nauth = \"users\"\nusers_file = \"{}\"\n{packet}{gateway_extra}\n\n",
            users.display()
        );
        for (alias, ks, shard) in TABLETS {
            toml.push_str(&format!(
                "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"{ks}\"\nshard = \"{shard}\"\nmysql_port = {}\n{tablet_extra}\n\n",
                super::free_port()
            ));
        }
        let cfg = dir.path().join("node.toml");
        std::fs::write(&cfg, toml).unwrap();
        let node = NodeProc::start_with(
            &nats.url,
            "n1",
            &["--config".into(), cfg.display().to_string(), format!("--failpoints={failpoints}")],
        );
        let url = nats.url.clone();
        super::eventually(Duration::from_secs(90), "4 tablets serving", || {
            let out = ctl(&url, &["--json", "GetTablets"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let n = v["tablets"]
                .as_array()
                .map(|t| t.iter().filter(|t| t["health"]["serving"] == true).count())
                .unwrap_or(0);
            async move { (n == 4).then_some(()) }
        })
        .await;
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/commerce");
        let f = |name: &str| examples.join(name).display().to_string();
        for (shard, primary) in
            [("commerce/0", "zone1-100"), ("customer/-80", "zone1-200"), ("customer/80-", "zone1-300")]
        {
            ctl_ok(&nats.url, &["InitShardPrimary", shard, primary]);
        }
        ctl_ok(&nats.url, &["ApplySchema", "commerce", "--sql-file", &f("schema_commerce.sql")]);
        ctl_ok(&nats.url, &["ApplySchema", "customer", "--sql-file", &f("schema_customer.sql")]);
        for stmt in std::fs::read_to_string(examples.join("seed_commerce.sql")).unwrap().split(';') {
            let stmt: String = stmt.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join(" ");
            if !stmt.trim().is_empty() {
                ctl_ok(&nats.url, &["ExecuteFetchAsDba", "zone1-100", stmt.trim()]);
            }
        }
        ctl_ok(&nats.url, &["ApplyVSchema", "commerce", "--vschema-file", &f("vschema_commerce.json")]);
        ctl_ok(&nats.url, &["ApplyVSchema", "customer", "--vschema-file", &f("vschema_customer.json")]);
        GatewayCluster { nats, dir, node, gateway }
    }

    /// A pool of MySQL connections to the gateway.
    pub fn pool(&self, user: &str, password: &str, db: Option<&str>) -> mysql_async::Pool {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.gateway.port())
            .user(Some(user))
            .pass(Some(password))
            .db_name(db.map(str::to_string));
        mysql_async::Pool::new(opts)
    }

    /// Rows of `sql` run directly on a tablet's MariaDB (bypassing the gateway).
    pub fn on_tablet(&self, alias: &str, sql: &str) -> String {
        ctl_ok(&self.nats.url, &["ExecuteFetchAsDba", alias, sql])
    }
}

/// Inserts customers `ids` (email `c<id>@x`) through a gateway connection, one statement each.
pub async fn insert_customers(conn: &mut mysql_async::Conn, ids: std::ops::RangeInclusive<u64>) {
    use mysql_async::prelude::Queryable;
    for id in ids {
        conn.exec_drop("insert into customer (customer_id, email) values (?, ?)", (id, format!("c{id}@x")))
            .await
            .unwrap();
    }
}
