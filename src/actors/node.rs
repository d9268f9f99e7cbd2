//! `NodeActor`: membership of this process in the cluster.
//!
//! Every node heartbeats on `tessera.node.<id>.heartbeat` and listens to everyone's. A peer
//! that stays silent for `lost_after` is reported `NodeLost` (every node may report it; the
//! events stream's de-duplication keeps one). A node only judges others while it hears its own
//! heartbeats, so a node cut off from NATS does not declare the rest of the cluster lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use async_nats::{Client, Subscriber};
use tracing::{info, warn};

use crate::protocol::envelope::Envelope;
use crate::protocol::events::ClusterEvent;
use crate::protocol::node::{Departure, Heartbeat, NodeEvent, NodeInfo, NodeStatus};
use crate::protocol::subjects;
use crate::topo::store::TopoStore;
use crate::topo::view::TopoView;

/// Lists the nodes this node currently hears, itself included.
#[derive(Message)]
#[rtype(result = "Vec<NodeStatus>")]
pub struct GetPeers;

/// Announces a clean departure (`NodeLeft`); answered once the announcement is sent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub reason: String,
}

struct Peer {
    info: NodeInfo,
    last_seen: Instant,
    topo_seq: u64,
}

/// The membership actor of one process.
pub struct NodeActor {
    info: NodeInfo,
    client: Client,
    store: TopoStore,
    view: TopoView,
    heartbeat: Duration,
    lost_after: Duration,
    peers: HashMap<String, Peer>,
    self_last_seen: Option<Instant>,
    subscription: Option<Subscriber>,
}

impl NodeActor {
    /// `subscription` must be a subscription to [`subjects::node_all`].
    pub fn new(
        info: NodeInfo,
        client: Client,
        store: TopoStore,
        view: TopoView,
        subscription: Subscriber,
        heartbeat: Duration,
        lost_after: Duration,
    ) -> Self {
        NodeActor {
            info,
            client,
            store,
            view,
            heartbeat,
            lost_after,
            peers: HashMap::new(),
            self_last_seen: None,
            subscription: Some(subscription),
        }
    }

    fn send_heartbeat(&self) {
        let hb = Heartbeat { node: self.info.clone(), topo_seq: self.view.seq() };
        let subject = subjects::node(&self.info.id, "heartbeat");
        let Ok(bytes) = Envelope::new(self.info.id.clone(), hb).encode() else { return };
        let client = self.client.clone();
        // A heartbeat that cannot be sent (NATS down) is simply skipped: the next one follows.
        tokio::spawn(async move {
            let _ = client.publish(subject, bytes.into()).await;
        });
    }

    fn check_peers(&mut self) {
        let now = Instant::now();
        let link_ok = self.self_last_seen.is_some_and(|t| now.duration_since(t) < self.heartbeat * 3);
        if !link_ok {
            // We cannot tell a silent peer from our own broken link: judge no one, and give
            // every peer a fresh grace period once the link is back.
            for p in self.peers.values_mut() {
                p.last_seen = now;
            }
            return;
        }
        let lost: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_seen) > self.lost_after)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            let Some(peer) = self.peers.remove(&id) else { continue };
            let silent_ms = now.duration_since(peer.last_seen).as_millis() as u64;
            warn!(node = %id, silent_ms, "node lost");
            let event = NodeEvent::NodeLost { node: peer.info.clone(), silent_ms, reported_by: self.info.id.clone() };
            let dedup = format!("node-lost-{}-{}", peer.info.id, peer.info.incarnation);
            self.publish_event(event, dedup);
        }
    }

    fn publish_event(&self, event: NodeEvent, dedup: String) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.publish_event(&ClusterEvent::from_node(&event), &dedup).await {
                warn!(event = event.name(), error = %e, "could not publish node event");
            }
        });
    }

    fn on_heartbeat(&mut self, subject: &str, payload: &[u8]) {
        let hb = match Envelope::<Heartbeat>::decode(payload) {
            Ok(env) => env.body,
            Err(e) => {
                warn!(subject, error = %e, "dropping heartbeat that does not decode");
                return;
            }
        };
        let now = Instant::now();
        if hb.node.id == self.info.id {
            if hb.node.incarnation == self.info.incarnation {
                self.self_last_seen = Some(now);
            } else {
                warn!(node = %hb.node.id, host = %hb.node.host, "another process uses this node id; give each node its own --id");
            }
            return;
        }
        match self.peers.get_mut(&hb.node.id) {
            Some(p) if p.info.incarnation == hb.node.incarnation => {
                p.last_seen = now;
                p.topo_seq = hb.topo_seq;
            }
            _ => {
                info!(node = %hb.node.id, cell = %hb.node.cell, "peer seen");
                self.peers.insert(hb.node.id.clone(), Peer { info: hb.node, last_seen: now, topo_seq: hb.topo_seq });
            }
        }
    }

    fn on_departure(&mut self, subject: &str, payload: &[u8]) {
        match Envelope::<Departure>::decode(payload) {
            Ok(env) => {
                let d = env.body;
                if self.peers.get(&d.node.id).is_some_and(|p| p.info.incarnation == d.node.incarnation) {
                    info!(node = %d.node.id, reason = %d.reason, "peer left");
                    self.peers.remove(&d.node.id);
                }
            }
            Err(e) => warn!(subject, error = %e, "dropping departure that does not decode"),
        }
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(sub) = self.subscription.take() {
            ctx.add_stream(sub);
        }
        info!(node = %self.info.id, cell = %self.info.cell, "node joined");
        self.publish_event(
            NodeEvent::NodeJoined { node: self.info.clone() },
            format!("node-joined-{}-{}", self.info.id, self.info.incarnation),
        );
        self.send_heartbeat();
        ctx.run_interval(self.heartbeat, |act, _| act.send_heartbeat());
        let check_every = (self.lost_after / 4).max(Duration::from_millis(100));
        ctx.run_interval(check_every, |act, _| act.check_peers());
    }
}

impl StreamHandler<async_nats::Message> for NodeActor {
    fn handle(&mut self, msg: async_nats::Message, _ctx: &mut Self::Context) {
        match subjects::node_parts(&msg.subject) {
            Some((_, "heartbeat")) => self.on_heartbeat(&msg.subject, &msg.payload),
            Some((_, "left")) => self.on_departure(&msg.subject, &msg.payload),
            _ => warn!(subject = %msg.subject, "dropping node message on an unknown subject"),
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!("node subscription ended; membership is no longer tracked");
    }
}

impl Handler<GetPeers> for NodeActor {
    type Result = MessageResult<GetPeers>;

    fn handle(&mut self, _: GetPeers, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let mut nodes: Vec<NodeStatus> = self
            .peers
            .values()
            .map(|p| NodeStatus {
                node: p.info.clone(),
                last_seen_ms_ago: now.duration_since(p.last_seen).as_millis() as u64,
                topo_seq: p.topo_seq,
            })
            .collect();
        nodes.push(NodeStatus { node: self.info.clone(), last_seen_ms_ago: 0, topo_seq: self.view.seq() });
        MessageResult(nodes)
    }
}

impl Handler<Leave> for NodeActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) -> Self::Result {
        let client = self.client.clone();
        let store = self.store.clone();
        let node = self.info.clone();
        Box::pin(async move {
            let departure = Departure { node: node.clone(), reason: msg.reason.clone() };
            if let Ok(bytes) = Envelope::new(node.id.clone(), departure).encode() {
                let _ = client.publish(subjects::node(&node.id, "left"), bytes.into()).await;
            }
            let event = ClusterEvent::from_node(&NodeEvent::NodeLeft { node: node.clone(), reason: msg.reason });
            let dedup = format!("node-left-{}-{}", node.id, node.incarnation);
            match tokio::time::timeout(Duration::from_secs(3), store.publish_event(&event, &dedup)).await {
                Ok(Ok(())) => info!(node = %node.id, "node left"),
                Ok(Err(e)) => warn!(error = %e, "could not publish NodeLeft"),
                Err(_) => warn!("timed out publishing NodeLeft"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        })
    }
}
