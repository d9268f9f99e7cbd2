//! Lanes: threads that each run a single-threaded tokio runtime with a NATS connection of its
//! own, so that work which arrives on one connection is done and answered on one thread.
//!
//! By default a node runs everything on one multi-threaded runtime and one NATS connection,
//! whose connection task runs on whichever worker is free: a request and its reply cross
//! threads on the way in and out, and each crossing is a wake-up through the kernel. Lanes
//! are the thread-per-core alternative, for the gateway's sessions
//! ([`crate::frontend::lanes`]) and the tablets' query service
//! ([`crate::actors::tablet::lanes`]); docs/PERFORMANCE.md has the A/B of each.

use std::cell::Cell;

use tokio::runtime::Handle;
use tracing::info;

use crate::nats::NatsAuth;
use crate::nats_roles::Role;

/// What a lane serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    Gateway,
    Tablet,
}

impl LaneKind {
    fn as_str(self) -> &'static str {
        match self {
            LaneKind::Gateway => "gateway",
            LaneKind::Tablet => "tablet",
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<(LaneKind, usize)>> = const { Cell::new(None) };
}

/// The lane the calling thread is, if it is one of `kind`'s.
pub fn current(kind: LaneKind) -> Option<usize> {
    CURRENT.with(|c| c.get()).filter(|(k, _)| *k == kind).map(|(_, i)| i)
}

/// How a lane reaches NATS: the node's own settings.
#[derive(Clone)]
pub struct LaneNats {
    pub url: String,
    /// The node's connection name; lanes append `-<kind>-lane<i>`.
    pub name: String,
    pub auth: NatsAuth,
    pub role: Role,
}

/// One lane: its runtime (spawn onto it to run there) and its NATS connection.
#[derive(Clone)]
pub struct LaneRuntime {
    pub index: usize,
    pub runtime: Handle,
    pub nats: async_nats::Client,
}

/// A lane count from the environment variable `var` if it is set, else `from_config`.
pub fn count(var: &str, from_config: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(from_config)
}

/// Starts `n` lanes of `kind`, each on a thread of its own, and returns once each is
/// connected to NATS. The threads run until the process ends.
pub async fn start(n: usize, kind: LaneKind, nats: LaneNats) -> anyhow::Result<Vec<LaneRuntime>> {
    let mut lanes = Vec::with_capacity(n);
    for index in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<anyhow::Result<LaneRuntime>>();
        let (nats, what) = (nats.clone(), format!("{} lane {index}", kind.as_str()));
        let thread_what = what.clone();
        std::thread::Builder::new()
            .name(format!("tessera-{}-lane-{index}", kind.as_str()))
            .stack_size(crate::sql::parse::STACK_SIZE)
            .spawn(move || {
                CURRENT.with(|c| c.set(Some((kind, index))));
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::anyhow!("cannot start the {thread_what}'s runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let name = format!("{}-{}-lane{index}", nats.name, kind.as_str());
                    match crate::nats::connect_with_retry(&nats.url, &name, &nats.auth, nats.role).await {
                        Ok((client, _)) => {
                            let lane = LaneRuntime { index, runtime: Handle::current(), nats: client };
                            if tx.send(Ok(lane)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                    // Work is spawned onto this runtime from elsewhere; it runs until the
                    // process ends.
                    std::future::pending::<()>().await
                });
            })
            .map_err(|e| anyhow::anyhow!("cannot start the {what}'s thread: {e}"))?;
        lanes.push(rx.await.map_err(|_| anyhow::anyhow!("the {what} stopped while starting"))??);
    }
    info!(lanes = n, "{} lanes started (one thread, runtime and NATS connection each)", kind.as_str());
    Ok(lanes)
}
