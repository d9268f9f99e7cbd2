//! `SessionActor`: one client connection: its target, autocommit, transactions (one reserved
//! tablet transaction per shard touched), last insert id, user variables.
//!
//! The protocol loop is the session's one long future. It runs on the node's multi-threaded
//! tokio runtime, beside the NATS client it talks to, so a reply wakes the session without
//! crossing runtimes; the actor owns the task, stops when the client leaves, and aborts the
//! task if it is stopped first. Sessions never wait for each other.

use actix::prelude::*;

use crate::frontend::conn::{serve, AsyncStream, ConnConfig};
use crate::frontend::execute::Services;

/// A connection as accepted, before the runtime's reactor owns it.
pub enum Incoming {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

/// The client went away (internal).
#[derive(Message)]
#[rtype(result = "()")]
struct Ended;

pub struct SessionActor {
    stream: Option<Incoming>,
    conn_id: u32,
    cfg: ConnConfig,
    services: Services,
    runtime: tokio::runtime::Handle,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SessionActor {
    pub fn new(
        stream: Incoming,
        conn_id: u32,
        cfg: ConnConfig,
        services: Services,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        SessionActor { stream: Some(stream), conn_id, cfg, services, runtime, task: None }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(incoming) = self.stream.take() else { return ctx.stop() };
        let (conn_id, cfg, services) = (self.conn_id, self.cfg.clone(), self.services.clone());
        let addr = ctx.address();
        self.task = Some(self.runtime.spawn(async move {
            // Register the socket with this runtime's reactor.
            let accepted: Option<(Box<dyn AsyncStream>, String, bool)> = match incoming {
                Incoming::Tcp(s) => tokio::net::TcpStream::from_std(s).ok().map(|s| {
                    let _ = s.set_nodelay(true);
                    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    (Box::new(s) as Box<dyn AsyncStream>, peer, false)
                }),
                Incoming::Unix(s) => tokio::net::UnixStream::from_std(s)
                    .ok()
                    .map(|s| (Box::new(s) as Box<dyn AsyncStream>, "unix socket".to_string(), true)),
            };
            if let Some((stream, peer, local)) = accepted {
                serve(stream, peer, local, conn_id, cfg, services).await;
            }
            // The actor may already be gone (node shutdown); then there is nobody to tell.
            addr.do_send(Ended);
        }));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        Running::Stop
    }
}

impl Handler<Ended> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: Ended, ctx: &mut Self::Context) {
        self.task = None;
        ctx.stop();
    }
}
