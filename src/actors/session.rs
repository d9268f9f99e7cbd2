//! `SessionActor`: one client connection: its target, autocommit, transactions (one reserved
//! tablet transaction per shard touched), last insert id. The protocol loop runs inside the
//! actor as its one long future; when the client leaves, open transactions are rolled back
//! and the actor stops.

use actix::prelude::*;

use crate::gateway::session::Services;
use crate::mysql::conn::{serve, ConnConfig};

pub struct SessionActor {
    stream: Option<std::net::TcpStream>,
    conn_id: u32,
    cfg: ConnConfig,
    services: Services,
}

impl SessionActor {
    pub fn new(stream: std::net::TcpStream, conn_id: u32, cfg: ConnConfig, services: Services) -> Self {
        SessionActor { stream: Some(stream), conn_id, cfg, services }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(std_stream) = self.stream.take() else {
            ctx.stop();
            return;
        };
        // Register the socket with this arbiter's reactor.
        let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) else {
            ctx.stop();
            return;
        };
        let fut = serve(stream, self.conn_id, self.cfg.clone(), self.services.clone());
        ctx.spawn(fut.into_actor(self).map(|(), _, ctx| ctx.stop()));
    }
}
