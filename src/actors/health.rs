//! `HealthActor`: keeps the latest health report of every tablet in the cluster.

use std::collections::HashMap;

use actix::prelude::*;
use async_nats::Subscriber;
use tracing::warn;

use crate::protocol::envelope::{now_ms, Envelope};
use crate::protocol::tablet::TabletHealth;

/// Reports older than this are shown as stale.
pub const STALE_AFTER_MS: u64 = 10_000;

/// The latest report per tablet alias.
#[derive(Message)]
#[rtype(result = "HashMap<String, TabletHealth>")]
pub struct GetHealth;

pub struct HealthActor {
    latest: HashMap<String, TabletHealth>,
    subscription: Option<Subscriber>,
}

impl HealthActor {
    /// `subscription` must be a subscription to [`crate::protocol::subjects::health_all`].
    pub fn new(subscription: Subscriber) -> Self {
        HealthActor { latest: HashMap::new(), subscription: Some(subscription) }
    }
}

impl Actor for HealthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if let Some(sub) = self.subscription.take() {
            ctx.add_stream(sub);
        }
    }
}

impl StreamHandler<async_nats::Message> for HealthActor {
    fn handle(&mut self, msg: async_nats::Message, _: &mut Self::Context) {
        match Envelope::<TabletHealth>::decode(&msg.payload) {
            Ok(env) => {
                let mut h = env.body;
                // Judge staleness by arrival, not by the sender's clock.
                h.time_ms = now_ms();
                self.latest.insert(h.alias.clone(), h);
            }
            Err(e) => warn!(subject = %msg.subject, error = %e, "dropping health report that does not decode"),
        }
    }
}

impl Handler<GetHealth> for HealthActor {
    type Result = MessageResult<GetHealth>;

    fn handle(&mut self, _: GetHealth, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.latest.clone())
    }
}
