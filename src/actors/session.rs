//! `SessionActor`: one client connection: its target, autocommit, transactions (one reserved
//! tablet transaction per shard touched), last insert id. The protocol loop runs inside the
//! actor as its one long future; when the client leaves, open transactions are rolled back
//! and the actor stops.

use actix::prelude::*;

use crate::gateway::session::Services;
use crate::mysql::conn::{serve, AsyncStream, ConnConfig};

/// A connection as accepted, before this arbiter's reactor owns it.
pub enum Incoming {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

pub struct SessionActor {
    stream: Option<Incoming>,
    conn_id: u32,
    cfg: ConnConfig,
    services: Services,
}

impl SessionActor {
    pub fn new(stream: Incoming, conn_id: u32, cfg: ConnConfig, services: Services) -> Self {
        SessionActor { stream: Some(stream), conn_id, cfg, services }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Register the socket with this arbiter's reactor.
        let (stream, peer, local): (Box<dyn AsyncStream>, String, bool) = match self.stream.take() {
            Some(Incoming::Tcp(s)) => match tokio::net::TcpStream::from_std(s) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    (Box::new(s), peer, false)
                }
                Err(_) => return ctx.stop(),
            },
            Some(Incoming::Unix(s)) => match tokio::net::UnixStream::from_std(s) {
                Ok(s) => (Box::new(s), "unix socket".to_string(), true),
                Err(_) => return ctx.stop(),
            },
            None => return ctx.stop(),
        };
        let fut = serve(stream, peer, local, self.conn_id, self.cfg.clone(), self.services.clone());
        ctx.spawn(fut.into_actor(self).map(|(), _, ctx| ctx.stop()));
    }
}
