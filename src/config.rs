//! Node configuration: a TOML file (`--config`), overridden by command-line flags.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::names;
use crate::protocol::topology::TabletType;
use crate::vindex::keyrange::KeyRange;

/// Everything a node needs to run. Unknown keys in the file are refused (typos are caught).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// NATS server URL(s), comma-separated: `nats://127.0.0.1:4222`. With several (a NATS
    /// cluster), the node fails over between them.
    pub nats: String,
    /// Copies of each tessera stream (topology, events, leases) the NATS cluster keeps.
    /// Default: 3 when the cluster has at least three servers, else 1. Streams that exist
    /// with another count are changed to it.
    pub stream_replicas: Option<usize>,
    /// Credentials and TLS towards NATS (`[nats_auth]`).
    pub nats_auth: crate::nats::NatsAuth,
    /// The NATS servers' monitoring URLs (`http://127.0.0.1:8222`, comma-separated), read at
    /// start to check that JetStream syncs every write to disk (`sync_interval: always`).
    pub nats_monitor: String,
    /// `node` (default: hosts tablets, serves admin commands, writes the topology) or
    /// `gateway` (only a MySQL gateway; needs only the `gateway` NATS role's permissions).
    pub role: crate::nats_roles::Role,
    /// The cell (failure domain) this node belongs to.
    pub cell: String,
    /// Node id; defaults to `<cell>-<hostname>-<pid>`.
    pub id: Option<String>,
    /// Address of the HTTP status server (`/healthz`, `/debug/status`); empty disables it.
    pub http_addr: String,
    /// Heartbeat period in milliseconds.
    pub heartbeat_ms: u64,
    /// A peer silent for this long (milliseconds) is reported `NodeLost`.
    pub lost_after_ms: u64,
    /// Where managed tablets keep their MariaDB data, one directory per alias.
    pub data_dir: String,
    /// The initialised MariaDB data dir copied for each managed tablet (default
    /// `<data_dir>/template`); built on first use.
    pub mysql_template: String,
    /// The tablets this node hosts (`[[tablet]]` tables in the file).
    #[serde(rename = "tablet")]
    pub tablets: Vec<TabletConfig>,
    /// The tablets' query service runs on this many single-threaded lanes, each with its own
    /// NATS connection and MySQL connections ([`crate::actors::tablet::lanes`]); 0: on the
    /// node's shared runtime. `TESSERA_TABLET_LANES` overrides it.
    pub tablet_lanes: usize,
    /// A MySQL gateway hosted by this node (`[gateway]`), if any.
    pub gateway: Option<GatewayConfig>,
    /// How VReplication streams and workflow commands reach source MySQL servers.
    pub vreplication: VReplicationConfig,
    /// Where backups go (`[backup]`).
    pub backup: crate::backup::BackupConfig,
    /// Automatic failover (`[failover]`).
    pub failover: crate::reparent::failover::FailoverConfig,
    /// The resolver of distributed transactions (`[twopc]`).
    pub twopc: crate::twopc::resolver::ResolverConfig,
}

/// `[vreplication]`: credentials streams and workflow commands use on the MySQL servers of
/// other tablets that tessera does not run (external); managed tablets are reached with the
/// cluster's `tessera_vrepl` user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VReplicationConfig {
    pub user: String,
    pub password: String,
    /// The cluster's VReplication user for managed tablets (set at start, not configured).
    #[serde(skip)]
    pub managed: Option<crate::mysqld::users::Credential>,
}

impl Default for VReplicationConfig {
    fn default() -> Self {
        VReplicationConfig { user: "root".into(), password: String::new(), managed: None }
    }
}

impl VReplicationConfig {
    /// The user and password for the MySQL of tablet `t`.
    pub fn login_for(&self, t: &crate::protocol::topology::TabletRecord) -> (String, String) {
        match &self.managed {
            Some(c) if t.managed => (c.user.clone(), c.password.clone()),
            _ => (self.user.clone(), self.password.clone()),
        }
    }
}

/// The MySQL gateway.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address of the MySQL listener.
    pub listen: String,
    /// `users` (check passwords against `users_file`) or `none` (anyone; development only).
    pub auth: String,
    /// TOML file of `[[user]]` entries: `name` and `password` or `password_sha1` (`*HEX`).
    pub users_file: String,
    /// Largest packet a client may send.
    pub max_allowed_packet: usize,
    /// Also listen on this unix socket path (empty: no socket).
    pub socket: String,
    /// PEM certificate chain and private key: enables TLS.
    pub tls_cert: String,
    pub tls_key: String,
    /// Refuse clients that do not use TLS.
    pub tls_required: bool,
    /// Plugin offered first: `mysql_native_password` or `caching_sha2_password`.
    pub default_auth: String,
    /// Rows the gateway may hold for one statement while it merges, joins or aggregates
    /// across shards; past it the statement fails with an error saying so.
    pub max_rows: usize,
    /// Plans kept by normalised query text (0: no plan cache).
    pub plan_cache_size: usize,
    /// How long (milliseconds) a write to a shard whose traffic is being switched is held
    /// before it fails.
    pub hold_writes_ms: u64,
    /// Client connections at once; more are refused with MySQL's 1040.
    pub max_connections: usize,
    /// Connections at once per user (0: no limit); more are refused with MySQL's 1203.
    pub max_user_connections: usize,
    /// Milliseconds a client has to complete the handshake and log in.
    pub connect_timeout_ms: u64,
    /// Longest (milliseconds) the gateway waits for a tablet's answer to one request. Past it
    /// the statement is stopped on the tablet and the client gets 1969, saying whether it
    /// took effect is unknown. Keep it above the tablets' lock wait timeout (10 s).
    pub query_timeout_ms: u64,
    /// On SIGTERM, how long (milliseconds) running statements may finish before they are
    /// interrupted. Idle sessions close at once, their transactions rolled back.
    pub drain_ms: u64,
    /// The server version clients are told (handshake, `@@version`). Empty: the version the
    /// tablets' MariaDB reports (managed tablets: `<version>-MariaDB-tessera`).
    pub server_version: String,
    /// Table ACL file (JSON, Vitess's `table_groups`; re-read when it changes); empty: none.
    pub table_acl_file: String,
    /// With an ACL, refuse tables no group names (by default they are open to all).
    pub table_acl_strict: bool,
    /// Sessions' `transaction_mode` until they set one: `single` (a transaction may touch
    /// one shard), `multi` (each shard commits in turn) or `twopc` (atomic, two-phase).
    pub transaction_mode: String,
    /// Milliseconds a statement inside a transaction may wait before the gateway looks for a
    /// lock wait cycle across shards (0: never looks).
    pub deadlock_detect_after_ms: u64,
    /// Statements slower than this (milliseconds) are logged at `warn` as slow queries (0: none).
    pub slow_query_ms: u64,
    /// Sessions run on this many single-threaded lanes, each with its own NATS connection
    /// ([`crate::frontend::lanes`]); 0: on the node's shared runtime. `TESSERA_GATEWAY_LANES`
    /// overrides it.
    pub lanes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "127.0.0.1:15306".into(),
            auth: "users".into(),
            users_file: "config/users.toml".into(),
            max_allowed_packet: 64 << 20,
            socket: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_required: false,
            default_auth: "mysql_native_password".into(),
            max_rows: 100_000,
            plan_cache_size: 4096,
            hold_writes_ms: 10_000,
            max_connections: 4096,
            max_user_connections: 0,
            connect_timeout_ms: 10_000,
            query_timeout_ms: 30_000,
            drain_ms: 10_000,
            server_version: String::new(),
            table_acl_file: String::new(),
            table_acl_strict: false,
            transaction_mode: "multi".into(),
            deadlock_detect_after_ms: 50,
            lanes: 0,
            slow_query_ms: 1000,
        }
    }
}

impl GatewayConfig {
    /// `transaction_mode`, checked.
    pub fn transaction_mode(&self) -> Result<crate::twopc::TxMode, ConfigError> {
        crate::twopc::TxMode::parse(&self.transaction_mode).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "[gateway] transaction_mode = {:?}: use single, multi or twopc",
                self.transaction_mode
            ))
        })
    }

    /// The authentication rules: every user with its stored password hashes.
    pub fn auth(&self) -> Result<crate::auth::Auth, ConfigError> {
        match self.auth.as_str() {
            "none" => Ok(crate::auth::Auth::None),
            "users" => {
                let path = Path::new(&self.users_file);
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: self.users_file.clone(), source })?;
                crate::auth::parse_users(&text)
                    .map_err(|e| ConfigError::Parse { path: self.users_file.clone(), message: e })
            }
            other => Err(ConfigError::Invalid(format!("gateway auth `{other}` is not `users` or `none`"))),
        }
    }

    /// The plugin offered in the greeting.
    pub fn default_plugin(&self) -> Result<&'static str, ConfigError> {
        match self.default_auth.as_str() {
            "mysql_native_password" => Ok(crate::auth::NATIVE_PASSWORD),
            "caching_sha2_password" => Ok(crate::auth::CACHING_SHA2),
            other => Err(ConfigError::Invalid(format!(
                "default_auth `{other}` is not mysql_native_password or caching_sha2_password"
            ))),
        }
    }

    /// The TLS acceptor, when a certificate and key are configured.
    pub fn tls(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, ConfigError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        if self.tls_cert.is_empty() && self.tls_key.is_empty() {
            if self.tls_required {
                return Err(ConfigError::Invalid("tls_required needs tls_cert and tls_key".into()));
            }
            return Ok(None);
        }
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.tls_cert)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| ConfigError::Parse { path: self.tls_cert.clone(), message: format!("certificate: {e}") })?;
        let key = PrivateKeyDer::from_pem_file(&self.tls_key)
            .map_err(|e| ConfigError::Parse { path: self.tls_key.clone(), message: format!("private key: {e}") })?;
        let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| ConfigError::Invalid(format!("TLS setup with {} and {}: {e}", self.tls_cert, self.tls_key)))?;
        Ok(Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))))
    }
}

/// One tablet: its place in the topology and its MySQL, managed or external.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabletConfig {
    /// `<cell>-<uid>`, e.g. `zone1-100` (normalised to `zone1-0000000100`).
    pub alias: String,
    pub keyspace: String,
    pub shard: String,
    /// Initial type: replica, rdonly or spare (primaries are made by InitShardPrimary).
    #[serde(rename = "type", default = "default_tablet_type")]
    pub tablet_type: TabletType,
    /// Port of the mysqld: the one tessera runs (managed), or the external server's.
    /// Managed default: 17000 + uid % 1000.
    #[serde(default)]
    pub mysql_port: Option<u16>,
    /// Host of an external MySQL/MariaDB; when absent tessera runs its own mysqld.
    #[serde(default)]
    pub mysql_host: Option<String>,
    #[serde(default = "default_mysql_user")]
    pub mysql_user: String,
    #[serde(default)]
    pub mysql_password: String,
    /// Connections to MySQL (statements and reserved transaction connections share them).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Transactions open longer than this are rolled back.
    #[serde(default = "default_tx_timeout_ms")]
    pub tx_timeout_ms: u64,
    /// A result with more rows fails with a clear error.
    #[serde(default = "default_max_result_rows")]
    pub max_result_rows: u64,
    /// Longest a request waits for a free MySQL connection (all `pool_size` busy) before it is
    /// refused with MySQL's 1040.
    #[serde(default = "default_pool_wait_ms")]
    pub pool_wait_ms: u64,
    /// innodb_buffer_pool_size of a managed mysqld, in MiB.
    #[serde(default = "default_buffer_pool_mb")]
    pub buffer_pool_mb: u32,
    /// A managed tablet that starts with an empty data directory restores the newest complete
    /// backup of its shard and catches up by replication (with no backup it starts empty).
    #[serde(default)]
    pub restore_from_backup: bool,
    /// A replica or rdonly tablet whose replication lags more than this many seconds (or whose
    /// replication stopped) serves no reads until it has caught up again; 0 never stops.
    #[serde(default = "default_max_replica_lag_s")]
    pub max_replica_lag_s: u64,
    /// The cluster's MariaDB users of managed tablets (set at start, not configured).
    #[serde(skip)]
    pub cluster_users: Option<crate::mysqld::users::MysqlCredentials>,
    /// The node's backup storage, or why it has none (set at start, not configured).
    #[serde(skip)]
    pub backup: Option<Result<crate::backup::SharedStorage, String>>,
}

fn default_max_replica_lag_s() -> u64 {
    30
}

fn default_tablet_type() -> TabletType {
    TabletType::Replica
}
fn default_mysql_user() -> String {
    "root".into()
}
fn default_pool_size() -> usize {
    16
}
fn default_tx_timeout_ms() -> u64 {
    30_000
}
fn default_max_result_rows() -> u64 {
    10_000
}
fn default_pool_wait_ms() -> u64 {
    10_000
}
fn default_buffer_pool_mb() -> u32 {
    32
}

impl TabletConfig {
    /// Parses `--tablet alias:keyspace/shard:type[:port]` (managed) or
    /// `alias:keyspace/shard:type@host:port` (external).
    pub fn parse_flag(spec: &str) -> Result<Self, String> {
        let bad =
            || format!("`{spec}` is not `alias:keyspace/shard:type[:port]` or `alias:keyspace/shard:type@host:port`");
        let (left, external) = match spec.split_once('@') {
            Some((l, r)) => (l, Some(r)),
            None => (spec, None),
        };
        let parts: Vec<&str> = left.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 || (external.is_some() && parts.len() != 3) {
            return Err(bad());
        }
        let (keyspace, shard) = parts[1].split_once('/').ok_or_else(bad)?;
        let mut t = TabletConfig {
            alias: parts[0].to_string(),
            keyspace: keyspace.to_string(),
            shard: shard.to_string(),
            tablet_type: parts[2].parse()?,
            mysql_port: None,
            mysql_host: None,
            mysql_user: default_mysql_user(),
            mysql_password: String::new(),
            pool_size: default_pool_size(),
            tx_timeout_ms: default_tx_timeout_ms(),
            max_result_rows: default_max_result_rows(),
            pool_wait_ms: default_pool_wait_ms(),
            buffer_pool_mb: default_buffer_pool_mb(),
            cluster_users: None,
            restore_from_backup: false,
            max_replica_lag_s: default_max_replica_lag_s(),
            backup: None,
        };
        if let Some(p) = parts.get(3) {
            t.mysql_port = Some(p.parse().map_err(|_| bad())?);
        }
        if let Some(addr) = external {
            let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
            t.mysql_host = Some(host.to_string());
            t.mysql_port = Some(port.parse().map_err(|_| bad())?);
        }
        t.validate()?;
        Ok(t)
    }

    /// Checks names, type and limits; normalises the alias.
    pub fn validate(&mut self) -> Result<(), String> {
        self.alias = names::normalize_tablet_alias(&self.alias)?;
        names::validate("keyspace", &self.keyspace)?;
        KeyRange::parse_shard_name(&self.shard).map_err(|e| e.to_string())?;
        if !matches!(self.tablet_type, TabletType::Replica | TabletType::Rdonly | TabletType::Spare) {
            return Err(format!(
                "tablet {}: initial type must be replica, rdonly or spare (make a primary with InitShardPrimary)",
                self.alias
            ));
        }
        if self.pool_size == 0 {
            return Err(format!("tablet {}: pool_size must be at least 1", self.alias));
        }
        if self.mysql_host.is_some() && self.mysql_port.is_none() {
            return Err(format!("tablet {}: an external MySQL needs mysql_port", self.alias));
        }
        Ok(())
    }

    /// The numeric part of the alias.
    pub fn uid(&self) -> u32 {
        self.alias.rsplit_once('-').and_then(|(_, u)| u.parse().ok()).unwrap_or(0)
    }

    /// The cell part of the alias.
    pub fn cell(&self) -> &str {
        self.alias.rsplit_once('-').map(|(c, _)| c).unwrap_or("")
    }

    pub fn port(&self) -> u16 {
        self.mysql_port.unwrap_or(17000 + (self.uid() % 1000) as u16)
    }

    pub fn is_managed(&self) -> bool {
        self.mysql_host.is_none()
    }

    /// The user and password the tablet manages its MySQL with: the cluster's `tessera_dba` on
    /// a managed server, the configured user on an external one.
    pub fn admin_login(&self) -> (String, String) {
        match &self.cluster_users {
            Some(u) if self.is_managed() => (u.dba.user.clone(), u.dba.password.clone()),
            _ => (self.mysql_user.clone(), self.mysql_password.clone()),
        }
    }

    /// The user and password replicas of this tablet's shard use on the primary.
    pub fn replication_login(&self) -> (String, String) {
        match &self.cluster_users {
            Some(u) if self.is_managed() => (u.repl.user.clone(), u.repl.password.clone()),
            _ => (self.mysql_user.clone(), self.mysql_password.clone()),
        }
    }
    /// The MySQL database that holds the keyspace's tables on this tablet: the keyspace's name.
    pub fn database(&self) -> String {
        crate::protocol::names::keyspace_database(&self.keyspace)
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            nats: "nats://127.0.0.1:4222".into(),
            stream_replicas: None,
            nats_auth: Default::default(),
            role: Default::default(),
            nats_monitor: String::new(),
            cell: "zone1".into(),
            id: None,
            http_addr: "127.0.0.1:15000".into(),
            heartbeat_ms: 1000,
            lost_after_ms: 10_000,
            data_dir: "./tessera-data/tablets".into(),
            mysql_template: String::new(),
            tablet_lanes: 0,
            tablets: Vec::new(),
            gateway: None,
            vreplication: VReplicationConfig::default(),
            backup: Default::default(),
            failover: Default::default(),
            twopc: Default::default(),
        }
    }
}

/// A config that was refused, with what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl NodeConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// Checks names and timings, and normalises tablet aliases.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        use crate::nats_roles::Role;
        match self.role {
            Role::Node => {}
            Role::Gateway if !self.tablets.is_empty() => {
                return Err(ConfigError::Invalid(
                    "role gateway hosts no tablets: run tablets on a node with role node".into(),
                ))
            }
            Role::Gateway if self.gateway.is_none() => {
                return Err(ConfigError::Invalid("role gateway needs a gateway ([gateway] or --gateway)".into()))
            }
            Role::Gateway => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "a node runs with role node or gateway, not {} (that role is for `tessera {}`)",
                    other.name(),
                    if other == Role::Admin { "ctl" } else { "events" }
                )))
            }
        }
        let mut aliases = std::collections::BTreeSet::new();
        for t in &mut self.tablets {
            t.validate().map_err(ConfigError::Invalid)?;
            if !aliases.insert(t.alias.clone()) {
                return Err(ConfigError::Invalid(format!("tablet {} is listed twice", t.alias)));
            }
        }
        names::validate("cell", &self.cell).map_err(ConfigError::Invalid)?;
        self.backup.check().map_err(ConfigError::Invalid)?;
        if let Some(g) = &self.gateway {
            g.transaction_mode()?;
        }
        if let Some(id) = &self.id {
            names::validate("node id", id).map_err(ConfigError::Invalid)?;
        }
        if self.nats.trim().is_empty() {
            return Err(ConfigError::Invalid("`nats` must name at least one NATS server URL".into()));
        }
        if self.heartbeat_ms < 50 {
            return Err(ConfigError::Invalid(format!(
                "heartbeat_ms = {} is below the minimum of 50",
                self.heartbeat_ms
            )));
        }
        if self.lost_after_ms < 3 * self.heartbeat_ms {
            return Err(ConfigError::Invalid(format!(
                "lost_after_ms = {} must be at least 3 x heartbeat_ms ({})",
                self.lost_after_ms,
                3 * self.heartbeat_ms
            )));
        }
        Ok(())
    }

    /// The node id, defaulting to `<cell>-<hostname>-<pid>`.
    pub fn node_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            let host: String = hostname()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect();
            format!("{}-{}-{}", self.cell, host, std::process::id())
        })
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn lost_after(&self) -> Duration {
        Duration::from_millis(self.lost_after_ms)
    }

    /// The MariaDB template data dir.
    pub fn template_dir(&self) -> std::path::PathBuf {
        if self.mysql_template.is_empty() {
            Path::new(&self.data_dir).join("template")
        } else {
            std::path::PathBuf::from(&self.mysql_template)
        }
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        NodeConfig::default().validate().unwrap();
        let t = TabletConfig::parse_flag("zone1-100:commerce/0:replica").unwrap();
        assert_eq!(
            (t.alias.as_str(), t.port(), t.is_managed(), t.database().as_str()),
            ("zone1-0000000100", 17100, true, "commerce")
        );
        let e = TabletConfig::parse_flag("zone1-7:ks/-80:rdonly@10.0.0.1:3306").unwrap();
        assert_eq!((e.mysql_host.as_deref(), e.port(), e.tablet_type), (Some("10.0.0.1"), 3306, TabletType::Rdonly));
        assert_eq!(TabletConfig::parse_flag("zone1-7:ks/0:spare:17007").unwrap().port(), 17007);
        for bad in [
            "zone1-100",
            "zone1-100:ks:replica",
            "zone1-100:ks/x:replica",
            "zone1-100:ks/0:primary",
            "x:ks/0:replica",
            "zone1-1:ks/0:replica@host",
        ] {
            assert!(TabletConfig::parse_flag(bad).is_err(), "{bad}");
        }
        assert!(NodeConfig::default().node_id().starts_with("zone1-"));
    }

    #[test]
    fn file_rejects_typos_and_bad_values() {
        let mut ok: NodeConfig = toml::from_str("cell = \"zone2\"\nheartbeat_ms = 200\nlost_after_ms = 1000").unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.cell, "zone2");
        assert!(toml::from_str::<NodeConfig>("cel = \"zone2\"").is_err());
        let mut bad: NodeConfig = toml::from_str("heartbeat_ms = 1000\nlost_after_ms = 1500").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("at least 3 x"));
        let mut bad_cell: NodeConfig = toml::from_str("cell = \"zone.1\"").unwrap();
        assert!(bad_cell.validate().is_err());
    }

    #[test]
    fn shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/node.toml");
        let mut cfg = NodeConfig::from_file(&path).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.tablets.len(), 1);
        let mut dup = cfg.clone();
        dup.tablets.push(cfg.tablets[0].clone());
        assert!(dup.validate().unwrap_err().to_string().contains("listed twice"));
        // The commented [backup] example, uncommented, is a valid section.
        let text = std::fs::read_to_string(&path).unwrap();
        let from = text.find("# [backup]").unwrap();
        let to = text.find("# Automatic failover").unwrap();
        let uncomment =
            |t: &str| -> String { t.lines().map(|l| format!("{}\n", l.trim_start_matches("# "))).collect() };
        let section = uncomment(&text[from..to]);
        let mut with_backup: NodeConfig = toml::from_str(&section).unwrap();
        with_backup.validate().unwrap();
        assert_eq!(with_backup.backup.keep_last, 7);
        assert_eq!(with_backup.backup.schedules()[0].1.as_secs(), 86_400);
        with_backup.backup.incremental_every = "1x".into();
        assert!(with_backup.validate().unwrap_err().to_string().contains("incremental_every"));
        // And the [failover] and [twopc] examples.
        let (from, to) = (text.find("# [failover]").unwrap(), text.find("# Distributed transactions").unwrap());
        let failover: NodeConfig = toml::from_str(&uncomment(&text[from..to])).unwrap();
        assert_eq!(failover.failover, crate::reparent::failover::FailoverConfig::default());
        let twopc: NodeConfig = toml::from_str(&uncomment(&text[text.find("# [twopc]").unwrap()..])).unwrap();
        assert_eq!(twopc.twopc, crate::twopc::resolver::ResolverConfig::default());
    }
}
