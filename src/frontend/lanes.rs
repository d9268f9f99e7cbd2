//! Gateway lanes: where client sessions run.
//!
//! By default every session runs on the node's multi-threaded runtime and shares the node's
//! one NATS connection. With `[gateway] lanes = N` (or `TESSERA_GATEWAY_LANES=N`) the gateway
//! starts N [lanes](crate::lanes) instead, each with its own tablet client (whose batchers run
//! on that lane too). A session is handed to a lane when it connects (round robin) and lives
//! there: its socket, its NATS requests and their replies are all handled on one thread. The
//! accept loop stays on the node's runtime (connections are long-lived; accepting is not on a
//! statement's path). docs/PERFORMANCE.md has the A/B.

use tokio::runtime::Handle;

use super::execute::Services;
use crate::lanes::{LaneKind, LaneNats};

/// A runtime and the services (tablet client, NATS connection) that live on it.
#[derive(Clone)]
pub struct Lane {
    pub runtime: Handle,
    pub services: Services,
}

/// How many lanes to run: `TESSERA_GATEWAY_LANES` if set, else `[gateway] lanes`; 0 means
/// sessions share the node's runtime.
pub fn configured(from_config: usize) -> usize {
    crate::lanes::count("TESSERA_GATEWAY_LANES", from_config)
}

/// Starts `n` lanes; `services` builds a lane's services around its NATS connection.
pub async fn start(
    n: usize,
    nats: LaneNats,
    services: impl Fn(async_nats::Client) -> Services,
) -> anyhow::Result<Vec<Lane>> {
    let lanes = crate::lanes::start(n, LaneKind::Gateway, nats).await?;
    Ok(lanes.into_iter().map(|l| Lane { runtime: l.runtime, services: services(l.nats) }).collect())
}
