//! Connecting to NATS.

use std::sync::Mutex;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::nats_roles::Role;

/// The servers of `url`: one URL, or several separated by commas (a NATS cluster; the client
/// picks one and fails over to the others).
fn servers(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// How a process proves who it is to NATS, and the TLS it uses: `[nats_auth]` in the node
/// config; `--nats-user`, `--nats-password`, `--nats-token`, `--nats-creds`, `--nats-nkey`,
/// `--nats-tls-ca`, `--nats-tls-cert`, `--nats-tls-key` (or `TESSERA_NATS_USER`, ...) for every
/// command, overriding the config.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsAuth {
    pub user: String,
    pub password: String,
    pub token: String,
    /// A `.creds` file (a user JWT and its nkey seed).
    pub creds: String,
    /// A file holding an nkey seed (`SU...`).
    pub nkey: String,
    /// CA certificate(s) to verify the servers with; setting it requires TLS.
    pub tls_ca: String,
    /// A client certificate and key, for servers that verify clients.
    pub tls_cert: String,
    pub tls_key: String,
    /// Where these credentials were read from, for messages (not a config key).
    #[serde(skip)]
    pub source: String,
}

impl NatsAuth {
    /// What it authenticates with, for messages (never a secret).
    pub fn describe(&self) -> String {
        let how = match () {
            _ if !self.creds.is_empty() => format!("credentials file {}", self.creds),
            _ if !self.nkey.is_empty() => format!("nkey seed file {}", self.nkey),
            _ if !self.user.is_empty() => format!("user {}", self.user),
            _ if !self.token.is_empty() => "a token".to_string(),
            _ => "no credentials".to_string(),
        };
        let how = if self.source.is_empty() { how } else { format!("{how} (from {})", self.source) };
        if self.tls_ca.is_empty() {
            how
        } else {
            format!("{how}, TLS with CA {}", self.tls_ca)
        }
    }

    async fn apply(&self, mut o: ConnectOptions) -> anyhow::Result<ConnectOptions> {
        if !self.creds.is_empty() {
            o = o
                .credentials_file(&self.creds)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the NATS credentials file {}: {e}", self.creds))?;
        } else if !self.nkey.is_empty() {
            let seed = std::fs::read_to_string(&self.nkey)
                .map_err(|e| anyhow::anyhow!("cannot read the NATS nkey seed file {}: {e}", self.nkey))?;
            o = o.nkey(seed.trim().to_string());
        } else if !self.user.is_empty() {
            o = o.user_and_password(self.user.clone(), self.password.clone());
        } else if !self.token.is_empty() {
            o = o.token(self.token.clone());
        }
        if !self.tls_ca.is_empty() {
            o = o.add_root_certificates(self.tls_ca.clone().into()).require_tls(true);
        }
        if !self.tls_cert.is_empty() {
            o = o.add_client_certificate(self.tls_cert.clone().into(), self.tls_key.clone().into());
        }
        Ok(o)
    }
}

/// The file under a local cluster's home holding `role`'s credentials (written by `up`).
pub fn credentials_file(home: &std::path::Path, role: Role) -> std::path::PathBuf {
    home.join("credentials").join(format!("nats-{}.toml", role.name()))
}

/// `role`'s credentials under `home`, if `tessera up` wrote them there.
pub fn local_credentials(home: &std::path::Path, role: Role) -> anyhow::Result<Option<NatsAuth>> {
    let path = credentials_file(home, role);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read the NATS credentials {}: {e}", path.display()),
    };
    let mut auth: NatsAuth = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the NATS credentials {} do not parse: {e}", path.display()))?;
    auth.source = path.display().to_string();
    Ok(Some(auth))
}

/// Connects once, failing fast: for short-lived commands (`ctl`, `events`). `role` picks the
/// inbox prefix the role's permissions allow (see [`crate::nats_roles`]).
pub async fn connect_once(url: &str, name: &str, auth: &NatsAuth, role: Role) -> anyhow::Result<Client> {
    auth.apply(options(name, role, None))
        .await?
        .connect(servers(url).as_slice())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to NATS at {url} with {}: {e} (is `tessera up` running, is --nats right, are the credentials right?)",
                auth.describe()
            )
        })
}

/// Connects with retries and backoff until it succeeds: for long-running nodes. Once
/// connected the client reconnects by itself, without limit. The receiver counts
/// (re)connections, so JetStream consumers, which a restarted server may have forgotten, can
/// be re-created at once instead of after their heartbeats time out.
pub async fn connect_with_retry(
    url: &str,
    name: &str,
    auth: &NatsAuth,
    role: Role,
) -> anyhow::Result<(Client, watch::Receiver<u64>)> {
    let (connects_tx, connects) = watch::channel(0u64);
    let mut delay = Duration::from_millis(200);
    loop {
        // Unreadable credentials are an error at once; a server that refuses them is retried
        // (it may be getting the credentials too), and says why in the log.
        let opts = auth.apply(options(name, role, Some(connects_tx.clone()))).await?;
        match opts.connect(servers(url).as_slice()).await {
            Ok(client) => {
                info!(nats = url, auth = %auth.describe(), "connected to NATS");
                return Ok((client, connects));
            }
            Err(e) => {
                warn!(nats = url, auth = %auth.describe(), error = %e, retry_in = ?delay, "NATS not reachable or refused the connection; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The last error the server sent this process (a permissions violation, an expired
/// credential), for commands that would otherwise only see a timeout.
static LAST_SERVER_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// What the server last refused, if anything: `Permissions Violation for Publish to ...`.
pub fn last_server_error() -> Option<String> {
    LAST_SERVER_ERROR.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn options(name: &str, role: Role, connects: Option<watch::Sender<u64>>) -> ConnectOptions {
    ConnectOptions::new()
        .name(name)
        .custom_inbox_prefix(role.inbox_prefix())
        .connection_timeout(Duration::from_secs(3))
        .ping_interval(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * 2u64.saturating_pow(attempts.min(6) as u32)).min(2000))
        })
        .event_callback(move |event| {
            let connects = connects.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        crate::metrics::metrics().nats_disconnects.inc();
                        warn!("disconnected from NATS; reconnecting")
                    }
                    async_nats::Event::Connected => {
                        crate::metrics::metrics().nats_reconnects.inc();
                        info!("NATS connection (re)established");
                        if let Some(tx) = connects {
                            tx.send_modify(|n| *n += 1);
                        }
                    }
                    async_nats::Event::ServerError(e) => {
                        warn!(error = %e, "NATS server refused an operation");
                        *LAST_SERVER_ERROR.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                    }
                    other => info!(event = %other, "NATS event"),
                }
            }
        })
}

/// JetStream servers the connected server's cluster has, as far as the client can tell: the
/// server itself and the other servers it advertises.
pub fn cluster_size(client: &Client) -> usize {
    1 + client.server_info().connect_urls.len()
}

/// The replica count for tessera's streams: `configured`, else 3 on a cluster of three or
/// more servers, else 1.
pub fn stream_replicas(client: &Client, configured: Option<usize>) -> usize {
    configured.unwrap_or(if cluster_size(client) >= 3 { 3 } else { 1 }).max(1)
}

/// Human-readable connection state.
pub fn state_name(client: &Client) -> &'static str {
    match client.connection_state() {
        async_nats::connection::State::Connected => "connected",
        async_nats::connection::State::Disconnected => "disconnected",
        async_nats::connection::State::Pending => "connecting",
    }
}

/// Warns when the NATS servers acknowledge JetStream writes before they are on disk: with
/// NATS's default (`sync_interval` 2 min), a power failure of a majority of servers can lose
/// acknowledged topology writes (Jepsen's 2025 analysis of NATS). Reads each monitoring URL's
/// `/varz`; without any, says what it could not check. Never fails: a warning is all it owes.
pub async fn check_durability(client: &Client, monitors: &str) {
    let version = client.server_info().version;
    if crate::cli::nats_version(&version).is_some_and(|v| v < (2, 10)) {
        warn!(
            nats_version = %version,
            "this NATS server cannot sync every JetStream write to disk before acknowledging it (sync_interval arrived in 2.10): \
             a power failure can lose acknowledged topology writes; run NATS 2.10 or later with `jetstream {{ sync_interval: always }}`"
        );
        return;
    }
    let urls: Vec<&str> = monitors.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    if urls.is_empty() {
        info!("set nats_monitor (the servers' monitoring URLs) to have this node check that JetStream syncs every write (`sync_interval: always`)");
        return;
    }
    for url in urls {
        match varz_sync_always(url).await {
            Ok(true) => info!(monitor = url, "NATS syncs every JetStream write to disk"),
            Ok(false) => warn!(
                monitor = url,
                "this NATS server acknowledges JetStream writes before they reach the disk (sync_interval is not `always`): \
                 a power failure can lose acknowledged topology writes; set `jetstream {{ sync_interval: always }}` in its config"
            ),
            Err(e) => warn!(monitor = url, error = %e, "cannot read the NATS server's settings to check its durability"),
        }
    }
}

/// `jetstream.config.sync_always` from `<url>/varz`.
async fn varz_sync_always(url: &str) -> anyhow::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(hostport).await?;
        s.write_all(format!("GET /varz HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).await?;
        let mut body = Vec::new();
        s.take(4 << 20).read_to_end(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let raw = tokio::time::timeout(Duration::from_secs(3), fetch).await.map_err(|_| anyhow::anyhow!("timed out"))??;
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("/varz is not JSON: {e}"))?;
    Ok(v["jetstream"]["config"]["sync_always"].as_bool().unwrap_or(false))
}
