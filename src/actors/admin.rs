//! `AdminActor`: serves admin commands published on `tessera.admin.<Command>`.
//!
//! The queue-group subscription is fed into the actor as a stream; each request is answered
//! on a spawned task, so a slow command (a long topology replay) never holds up the others.

use actix::prelude::*;
use async_nats::{Client, Subscriber};
use tracing::{error, warn};

use crate::admin::AdminService;
use crate::protocol::admin::{AdminReply, ErrorCode, RemoteError};
use crate::protocol::envelope::Envelope;

/// Serves the admin queue group for this node.
pub struct AdminActor {
    service: AdminService,
    client: Client,
    sender: String,
    subscription: Option<Subscriber>,
}

impl AdminActor {
    /// `subscription` must be the queue subscription to [`crate::protocol::subjects::admin_all`].
    pub fn new(service: AdminService, client: Client, sender: String, subscription: Subscriber) -> Self {
        AdminActor { service, client, sender, subscription: Some(subscription) }
    }
}

impl Actor for AdminActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(sub) = self.subscription.take() {
            ctx.add_stream(sub);
        }
    }
}

impl StreamHandler<async_nats::Message> for AdminActor {
    fn handle(&mut self, msg: async_nats::Message, _ctx: &mut Self::Context) {
        let service = self.service.clone();
        let client = self.client.clone();
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let reply = service.handle_bytes(&msg.subject, &msg.payload).await;
            let Some(reply_to) = msg.reply else {
                warn!(subject = %msg.subject, "admin message without a reply subject; answer dropped");
                return;
            };
            let bytes = match Envelope::new(sender.clone(), &reply).encode() {
                Ok(b) => b,
                Err(e) => {
                    let fallback: AdminReply =
                        Err(RemoteError::new(ErrorCode::Internal, format!("cannot encode reply: {e}")));
                    match Envelope::new(sender, fallback).encode() {
                        Ok(b) => b,
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = client.publish(reply_to, bytes.into()).await {
                warn!(subject = %msg.subject, error = %e, "could not send admin reply");
            }
        });
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        error!("admin subscription ended; this node no longer serves admin commands");
        System::current().stop_with_code(1);
    }
}
