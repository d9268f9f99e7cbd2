//! `GatewayActor`: the MySQL listener. Each accepted connection becomes a `SessionActor`
//! whose protocol loop runs on a [lane](crate::frontend::lanes): the node's multi-threaded
//! runtime by default, or one of the gateway's single-threaded lanes (round robin), so
//! sessions never wait for each other and use every core.

use std::sync::atomic::{AtomicU32, Ordering};

use actix::prelude::*;
use tracing::{info, warn};

use super::session::{Incoming, SessionActor};
use crate::frontend::conn::ConnConfig;
use crate::frontend::lanes::Lane;

/// Stops accepting connections (the node is shutting down). Sessions are drained separately
/// ([`crate::frontend::sessions::Sessions::drain`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAccepting;

pub struct GatewayActor {
    /// The accept streams, cancelled by [`StopAccepting`].
    accepting: Vec<SpawnHandle>,
    listener: Option<std::net::TcpListener>,
    socket: Option<std::os::unix::net::UnixListener>,
    cfg: ConnConfig,
    /// Where sessions run (round robin).
    lanes: Vec<Lane>,
    conn_ids: AtomicU32,
}

impl GatewayActor {
    /// `listener` is already bound (so a busy port is reported at start, by name). `lanes`
    /// are where sessions run.
    pub fn new(
        listener: std::net::TcpListener,
        socket: Option<std::os::unix::net::UnixListener>,
        cfg: ConnConfig,
        lanes: Vec<Lane>,
    ) -> Self {
        GatewayActor {
            accepting: Vec::new(),
            listener: Some(listener),
            socket,
            cfg,
            lanes,
            conn_ids: AtomicU32::new(1),
        }
    }
}

impl Actor for GatewayActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(std_listener) = self.listener.take() else { return };
        let listener =
            match std_listener.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(std_listener)) {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, "gateway listener unusable");
                    return;
                }
            };
        let accepts = futures::stream::unfold(listener, |l| async move {
            let r = l.accept().await.and_then(|(s, _)| s.into_std()).map(Incoming::Tcp);
            Some((r, l))
        });
        self.accepting.push(ctx.add_stream(accepts));
        if let Some(sock) = self.socket.take() {
            match sock.set_nonblocking(true).and_then(|()| tokio::net::UnixListener::from_std(sock)) {
                Ok(l) => {
                    let accepts = futures::stream::unfold(l, |l| async move {
                        let r = l.accept().await.and_then(|(s, _)| s.into_std()).map(Incoming::Unix);
                        Some((r, l))
                    });
                    self.accepting.push(ctx.add_stream(accepts));
                }
                Err(e) => warn!(error = %e, "unix socket listener unusable"),
            }
        }
    }
}

impl Handler<StopAccepting> for GatewayActor {
    type Result = ();

    fn handle(&mut self, _: StopAccepting, ctx: &mut Self::Context) {
        for h in self.accepting.drain(..) {
            ctx.cancel_future(h);
        }
        info!("gateway stopped accepting connections");
    }
}

impl StreamHandler<std::io::Result<Incoming>> for GatewayActor {
    fn handle(&mut self, item: std::io::Result<Incoming>, _: &mut Self::Context) {
        let incoming = match item {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: keep accepting.
                warn!(error = %e, "accept failed");
                return;
            }
        };
        let conn_id = self.conn_ids.fetch_add(1, Ordering::Relaxed);
        let Some(lane) = self.lanes.get(conn_id as usize % self.lanes.len().max(1)) else {
            warn!("the gateway has no lane to run sessions on; connection closed");
            return;
        };
        SessionActor::new(incoming, conn_id, self.cfg.clone(), lane.services.clone(), lane.runtime.clone()).start();
    }

    fn finished(&mut self, _: &mut Self::Context) {
        info!("gateway listener closed");
    }
}
