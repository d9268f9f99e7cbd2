//! `VReplicationEngine`: one per node. It follows the topology and keeps one
//! [`VReplicationActor`] for every stream whose target shard's primary is a tablet of this
//! node, started or stopped as its workflow says; a stream whose source or target moved (a new
//! primary) is restarted with the new servers.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use tracing::{info, warn};

use super::vreplication::{SetRun, Shutdown, VReplicationActor};
use crate::config::{TabletConfig, VReplicationConfig};
use crate::protocol::subjects;
use crate::protocol::topology::TabletType;
use crate::protocol::workflow::{StreamKey, WorkflowState};
use crate::topo::state::Topology;
use crate::topo::store::TopoStore;
use crate::topo::view::TopoView;
use crate::vindex::keyrange::KeyRange;
use crate::vrepl::{MysqlAddr, StreamSpec};

pub struct VReplicationEngine {
    node_id: String,
    tablets: Vec<TabletConfig>,
    creds: VReplicationConfig,
    client: async_nats::Client,
    store: TopoStore,
    view: TopoView,
    seen_seq: u64,
    streams: HashMap<StreamKey, (Addr<VReplicationActor>, StreamSpec)>,
    starting: bool,
}

impl VReplicationEngine {
    pub fn new(
        node_id: String,
        tablets: Vec<TabletConfig>,
        creds: VReplicationConfig,
        client: async_nats::Client,
        store: TopoStore,
        view: TopoView,
    ) -> Self {
        VReplicationEngine {
            node_id,
            tablets,
            creds,
            client,
            store,
            view,
            seen_seq: 0,
            streams: HashMap::new(),
            starting: false,
        }
    }

    /// The MySQL server of a tablet by alias, as other nodes reach it.
    fn remote(&self, topo: &Topology, alias: &str, keyspace: &str) -> Option<MysqlAddr> {
        let t = topo.tablets.get(alias)?;
        let (user, password) = self.creds.login_for(t);
        Some(MysqlAddr {
            host: if t.mysql_host.is_empty() { "127.0.0.1".into() } else { t.mysql_host.clone() },
            port: t.mysql_port,
            user,
            password,
            db: crate::protocol::names::keyspace_database(keyspace),
        })
    }

    /// The streams this node should host, with their specs and whether they run.
    fn desired(&self, topo: &Topology) -> HashMap<StreamKey, (StreamSpec, bool)> {
        let mut out = HashMap::new();
        for ks in topo.keyspaces.values() {
            for wf in ks.workflows.values() {
                if wf.state == WorkflowState::Frozen {
                    continue;
                }
                for key in wf.streams() {
                    let Some(primary) = topo.shard(&key.keyspace, &key.target_shard).and_then(|s| s.primary.clone())
                    else {
                        continue;
                    };
                    let Some(local) = self.tablets.iter().find(|t| t.alias == primary) else { continue };
                    if topo.tablets.get(&primary).is_none_or(|t| t.node_id != self.node_id) {
                        continue;
                    }
                    let Some(source_primary) =
                        topo.shard(&wf.source_keyspace, &key.source_shard).and_then(|s| s.primary.clone())
                    else {
                        continue;
                    };
                    let Some(source) = self.remote(topo, &source_primary, &wf.source_keyspace) else { continue };
                    let (user, password) = local.admin_login();
                    let target = MysqlAddr {
                        host: local.mysql_host.clone().unwrap_or_else(|| "127.0.0.1".into()),
                        port: local.port(),
                        user,
                        password,
                        db: local.database(),
                    };
                    let target_replicas = topo
                        .shard_tablets(&key.keyspace, &key.target_shard)
                        .filter(|t| matches!(t.tablet_type, TabletType::Replica | TabletType::Rdonly))
                        .filter_map(|t| self.remote(topo, &t.alias, &key.keyspace))
                        .collect();
                    let spec = StreamSpec {
                        target_range: KeyRange::parse_shard_name(&key.target_shard)
                            .unwrap_or_else(|_| KeyRange::full()),
                        key: key.clone(),
                        tables: wf.tables.clone(),
                        options: wf.options.clone(),
                        source,
                        target,
                        target_replicas,
                    };
                    out.insert(key, (spec, wf.state == WorkflowState::Running));
                }
            }
        }
        out
    }

    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.starting || self.view.seq() == self.seen_seq {
            return;
        }
        let topo = self.view.snapshot();
        self.seen_seq = topo.seq;
        let desired = self.desired(&topo);
        // Streams no longer wanted here, or whose servers changed: stop.
        let stale: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(k, (_, spec))| {
                desired.get(*k).is_none_or(|(d, _)| d.source != spec.source || d.target != spec.target)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some((addr, _)) = self.streams.remove(&k) {
                info!(stream = %k, "stream no longer hosted here (or its servers changed): stopping");
                addr.do_send(Shutdown);
            }
        }
        let mut new = Vec::new();
        for (k, (spec, run)) in desired {
            match self.streams.get(&k) {
                Some((addr, _)) => addr.do_send(SetRun(run)),
                None => new.push((spec, run)),
            }
        }
        if new.is_empty() {
            return;
        }
        self.starting = true;
        let client = self.client.clone();
        ctx.wait(
            async move {
                let mut subs = Vec::new();
                for (spec, run) in new {
                    match client.subscribe(subjects::vrepl(&spec.key)).await {
                        Ok(sub) => subs.push((spec, run, sub)),
                        Err(e) => warn!(stream = %spec.key, error = %e, "cannot subscribe the stream's subject"),
                    }
                }
                subs
            }
            .into_actor(self)
            .map(|subs, act, _| {
                act.starting = false;
                for (spec, run, sub) in subs {
                    info!(stream = %spec.key, run, "hosting stream");
                    let actor =
                        VReplicationActor::new(spec.clone(), act.client.clone(), act.store.clone(), sub, run).start();
                    act.streams.insert(spec.key.clone(), (actor, spec));
                }
                // Anything that failed to subscribe is retried at the next tick.
                act.seen_seq = 0;
            }),
        );
    }
}

impl Actor for VReplicationEngine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.reconcile(ctx);
        ctx.run_interval(Duration::from_millis(500), |act, ctx| act.reconcile(ctx));
    }
}
