//! Connecting to NATS.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use tokio::sync::watch;
use tracing::{info, warn};

/// The servers of `url`: one URL, or several separated by commas (a NATS cluster; the client
/// picks one and fails over to the others).
fn servers(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// Connects once, failing fast: for short-lived commands (`ctl`, `events`).
pub async fn connect_once(url: &str, name: &str) -> anyhow::Result<Client> {
    options(name, None)
        .connect(servers(url).as_slice())
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach NATS at {url}: {e} (is `tessera up` running, or is --nats right?)"))
}

/// Connects with retries and backoff until it succeeds: for long-running nodes. Once
/// connected the client reconnects by itself, without limit. The receiver counts
/// (re)connections, so JetStream consumers, which a restarted server may have forgotten, can
/// be re-created at once instead of after their heartbeats time out.
pub async fn connect_with_retry(url: &str, name: &str) -> (Client, watch::Receiver<u64>) {
    let (connects_tx, connects) = watch::channel(0u64);
    let mut delay = Duration::from_millis(200);
    loop {
        match options(name, Some(connects_tx.clone())).connect(servers(url).as_slice()).await {
            Ok(client) => {
                info!(nats = url, "connected to NATS");
                return (client, connects);
            }
            Err(e) => {
                warn!(nats = url, error = %e, retry_in = ?delay, "NATS not reachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn options(name: &str, connects: Option<watch::Sender<u64>>) -> ConnectOptions {
    ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(3))
        .ping_interval(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * 2u64.saturating_pow(attempts.min(6) as u32)).min(2000))
        })
        .event_callback(move |event| {
            let connects = connects.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => warn!("disconnected from NATS; reconnecting"),
                    async_nats::Event::Connected => {
                        info!("NATS connection (re)established");
                        if let Some(tx) = connects {
                            tx.send_modify(|n| *n += 1);
                        }
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
