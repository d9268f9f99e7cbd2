//! Gateway lanes: where client sessions run.
//!
//! By default every session runs on the node's multi-threaded runtime and shares the node's
//! one NATS connection, whose connection task runs on whichever worker is free: a statement
//! and its reply cross threads (session task -> NATS connection task -> session task), and
//! each crossing is a wake-up through the kernel.
//!
//! With `[gateway] lanes = N` (or `TESSERA_GATEWAY_LANES=N`) the gateway starts N lanes instead: each one thread with a
//! single-threaded runtime, its own NATS connection and its own tablet client (whose batchers
//! run on that thread too). A session is handed to a lane when it connects (round robin) and
//! lives there: its socket, its NATS requests and their replies are all handled on one thread.
//! The accept loop stays on the node's runtime (connections are long-lived; accepting is not
//! on a statement's path). docs/PERFORMANCE.md has the A/B.

use std::sync::Arc;

use tokio::runtime::Handle;
use tracing::info;

use super::execute::Services;
use crate::nats::NatsAuth;
use crate::nats_roles::Role;

/// A runtime and the services (tablet client, NATS connection) that live on it.
#[derive(Clone)]
pub struct Lane {
    pub runtime: Handle,
    pub services: Services,
}

/// How many lanes to run: `TESSERA_GATEWAY_LANES` if set, else `[gateway] lanes`; 0 means
/// sessions share the node's runtime.
pub fn configured(from_config: usize) -> usize {
    std::env::var("TESSERA_GATEWAY_LANES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(from_config)
}

/// How a lane reaches NATS: the node's own settings.
#[derive(Clone)]
pub struct LaneNats {
    pub url: String,
    /// The node's connection name; lanes append `-lane<i>`.
    pub name: String,
    pub auth: NatsAuth,
    pub role: Role,
}

/// Starts `n` lanes, each on a thread of its own, and returns once each is connected to NATS.
/// `services` builds a lane's services around its NATS connection (called on the lane's
/// thread, so what it spawns runs there).
pub async fn start(
    n: usize,
    nats: LaneNats,
    services: impl Fn(async_nats::Client) -> Services + Send + Sync + 'static,
) -> anyhow::Result<Vec<Lane>> {
    let services = Arc::new(services);
    let mut lanes = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<anyhow::Result<Lane>>();
        let (services, nats) = (services.clone(), nats.clone());
        std::thread::Builder::new()
            .name(format!("tessera-lane-{i}"))
            .stack_size(crate::sql::parse::STACK_SIZE)
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::anyhow!("cannot start gateway lane {i}'s runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let name = format!("{}-lane{i}", nats.name);
                    match crate::nats::connect_with_retry(&nats.url, &name, &nats.auth, nats.role).await {
                        Ok((client, _)) => {
                            let lane = Lane { runtime: Handle::current(), services: services(client) };
                            if tx.send(Ok(lane)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                    // Sessions are spawned onto this runtime from the accept loop; it runs
                    // until the process ends.
                    std::future::pending::<()>().await
                });
            })
            .map_err(|e| anyhow::anyhow!("cannot start gateway lane {i}'s thread: {e}"))?;
        let lane = rx.await.map_err(|_| anyhow::anyhow!("gateway lane {i} stopped while starting"))??;
        lanes.push(lane);
    }
    info!(lanes = n, "gateway sessions run on lanes (one thread, runtime and NATS connection each)");
    Ok(lanes)
}
