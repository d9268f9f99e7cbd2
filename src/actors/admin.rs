//! `AdminActor`: serves admin commands published on `tessera.admin.<Command>`.
//!
//! The queue-group subscription is fed into the actor as a stream; each request is answered
//! on a spawned task, so a slow command (a long topology replay) never holds up the others.

use actix::prelude::*;
use async_nats::{Client, Subscriber};
use tracing::error;

use crate::admin::AdminService;
use crate::rpc::exchanges::Admin;

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
            let subject = msg.subject.to_string();
            let Some((req, replier)) = crate::rpc::receive::<Admin>(&client, &sender, msg, None).await else { return };
            // Long commands tell the caller they are still at work (ctl stops waiting for a
            // node that died instead of for hours).
            let keep_alive = req.is_long().then(|| replier.keep_alive());
            let reply = match AdminService::check_subject(&subject, &req) {
                Ok(()) => service.handle(req).await,
                Err(e) => Err(e),
            };
            if let Some(k) = keep_alive {
                k.abort();
            }
            replier.send(&reply).await;
        });
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        error!("admin subscription ended; this node no longer serves admin commands");
        System::current().stop_with_code(1);
    }
}
