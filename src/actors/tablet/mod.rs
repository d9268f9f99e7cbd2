//! `TabletActor`: one MySQL server and everything tessera does with it.
//!
//! - Managed tablets get a data dir copied from the template, a generated `my.cnf`, and a
//!   supervised mysqld: if it dies the tablet reports it (health and a `MysqldDied` event) and
//!   starts it again. External tablets point at a server someone else runs; while it is
//!   unreachable the tablet is registered but not serving, with the reason, and retries.
//! - The query service ([`query`]) answers on `tessera.tablet.<alias>.query` and, in a queue
//!   group, on `tessera.target.<ks>.<shard>.<type>.query`; requests run concurrently on their
//!   own tasks. Management requests (`tessera.tablet.<alias>.manage`) change the actor's state.
//! - Health goes out on `tessera.health.<alias>` every couple of seconds and on every change.

mod backup;
mod dbconn;
mod fence;
mod lag;
pub mod lanes;
mod lifecycle;
mod manage;
pub use manage::normalize_create;
pub mod query;
mod running;
mod sequence;
mod serve;
pub mod stream;
mod xa;

use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use async_nats::{Client, Subscriber};

use crate::config::TabletConfig;
use crate::mysqld::Mysqld;
use crate::protocol::tablet::{ManageReply, ManageRequest, ReplicationStatus};
use crate::topo::writer::TopoWriter;
use query::{Limits, QueryService, TabletState};

/// Runs one management operation; answered by the tablet.
#[derive(Message)]
#[rtype(result = "ManageReply")]
pub struct Manage(pub ManageRequest);

/// Stops serving and, for a managed tablet, stops its mysqld (node shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTablet;

/// mysqld went away (internal).
#[derive(Message)]
#[rtype(result = "()")]
struct MysqldExited {
    detail: String,
}

/// The outcome of a health probe (internal).
#[derive(Message)]
#[rtype(result = "()")]
struct Probed {
    mysql_ok: Result<(), String>,
    replication: Option<ReplicationStatus>,
    /// `@@version` and `@@version_comment`.
    server: Option<(String, String)>,
}

/// A tablet's NATS wiring: its own subscriptions (`tessera.tablet.<alias>.query` and
/// `.manage`), its shard's kill subject, and the node's server of large payloads.
pub struct TabletNats {
    /// The alias query subscription; `None` when tablet lanes serve it ([`lanes`]).
    pub query: Option<Subscriber>,
    pub manage: Subscriber,
    pub kill: Subscriber,
    pub bulk: crate::bulk::Bulk,
}

/// One tablet.
pub struct TabletActor {
    cfg: TabletConfig,
    node_id: String,
    client: Client,
    writer: TopoWriter,
    service: Arc<QueryService>,
    state: Arc<TabletState>,
    mysqld: Option<Mysqld>,
    template: PathBuf,
    mysqld_up: bool,
    mysqld_restarts: u32,
    /// A (re)start or connect attempt is in progress.
    busy: bool,
    stopping: bool,
    registered: bool,
    /// The pool reaches MySQL (set by a successful connect, cleared when mysqld dies).
    connected: bool,
    last_error: Option<String>,
    replication: Option<ReplicationStatus>,
    /// `@@version` and `@@version_comment` of its MySQL, once seen.
    server: Option<(String, String)>,
    /// The alias query subscription, until `started` hands it to its serving task.
    query_sub: Option<Subscriber>,
    kill_sub: Option<Subscriber>,
    kill_task: Option<tokio::task::JoinHandle<()>>,
    /// Serves this node's replies too large for one message.
    bulk: crate::bulk::Bulk,
    /// The manage subscription, until `started` feeds it into the actor.
    manage_sub: Option<Subscriber>,
    /// Tasks answering the query subscriptions (alias, and the target queue group while
    /// serving); aborted when the actor stops.
    query_task: Option<tokio::task::JoinHandle<()>>,
    target_stream: Option<tokio::task::JoinHandle<()>>,
    /// With tablet lanes: the lanes' tasks serving the alias subject, and the target queue
    /// group while serving ([`lanes`]).
    alias_lanes: Vec<tokio::task::JoinHandle<()>>,
    target_lanes: Vec<tokio::task::JoinHandle<()>>,
    target_type: Option<crate::protocol::topology::TabletType>,
    /// Counts type changes, so a read_only change that raced one can tell it is stale.
    type_epoch: u64,
    /// (serving, mysqld_up) as last announced, to publish events on transitions.
    announced: Option<(bool, bool)>,
    events_sent: u64,
    incarnation: String,
    /// Vitess's action lock: `SleepTablet` holds it; operations that change the tablet's role,
    /// replication or schema wait for it (queries and status reads never do).
    actions: Arc<tokio::sync::Mutex<()>>,
    /// What holds mysqld down on purpose (a restore replacing its data, a builtin backup
    /// copying its files): its exit is expected, and nothing else may take it down meanwhile.
    offline: Option<String>,
    /// After a restore: the GTID position to replicate from once connected.
    restore_position: Option<String>,
    /// After a restore or a builtin backup: serve only once replication has caught up.
    catching_up: bool,
    /// After a builtin backup of a replica: start replication again once connected.
    resume_replication: bool,
    /// A restore failed after the old data was gone: never serve until a restore succeeds.
    data_incomplete: Option<String>,
    /// A replaced primary is being pointed at the new one (see [`fence`]).
    rejoining: bool,
    /// The semi-sync settings last applied: type, durability policy, primary's cell.
    durability: Option<String>,
    /// Why the tablet serves no reads while its replication lags (see `check_lag`).
    lagging: Option<String>,
}

impl TabletActor {
    /// `subs`: this tablet's subscriptions and the node's large-payload server.
    pub fn new(
        cfg: TabletConfig,
        node_id: String,
        client: Client,
        writer: TopoWriter,
        data_dir: PathBuf,
        template: PathBuf,
        subs: TabletNats,
    ) -> Self {
        let state = Arc::new(TabletState {
            alias: cfg.alias.clone(),
            tablet_type: std::sync::RwLock::new(cfg.tablet_type),
            serving: std::sync::atomic::AtomicBool::new(false),
            not_serving_reason: std::sync::RwLock::new("starting".into()),
            fence: fence::Fence::new(writer.view().clone(), &cfg.keyspace, &cfg.shard),
            keyspace: cfg.keyspace.clone(),
            shard: cfg.shard.clone(),
        });
        let limits = Limits {
            max_result_rows: cfg.max_result_rows,
            tx_timeout: std::time::Duration::from_millis(cfg.tx_timeout_ms),
            stream_chunk_rows: 1000,
            pool_wait: std::time::Duration::from_millis(cfg.pool_wait_ms),
        };
        let mysqld = cfg.is_managed().then(|| {
            let mut m = Mysqld::new(data_dir.join(&cfg.alias), cfg.port(), cfg.uid().max(1));
            m.buffer_pool_mb = cfg.buffer_pool_mb;
            m
        });
        TabletActor {
            service: Arc::new(QueryService::new(state.clone(), limits)),
            state,
            cfg,
            node_id,
            client,
            writer,
            mysqld,
            template,
            mysqld_up: false,
            mysqld_restarts: 0,
            server: None,
            busy: false,
            stopping: false,
            registered: false,
            connected: false,
            last_error: None,
            replication: None,
            query_sub: subs.query,
            kill_sub: Some(subs.kill),
            kill_task: None,
            bulk: subs.bulk,
            manage_sub: Some(subs.manage),
            query_task: None,
            target_stream: None,
            alias_lanes: Vec::new(),
            target_lanes: Vec::new(),
            target_type: None,
            type_epoch: 0,
            announced: None,
            events_sent: 0,
            incarnation: uuid::Uuid::new_v4().simple().to_string(),
            actions: Arc::new(tokio::sync::Mutex::new(())),
            offline: None,
            catching_up: false,
            resume_replication: false,
            restore_position: None,
            data_incomplete: None,
            rejoining: false,
            durability: None,
            lagging: None,
        }
    }

    pub fn alias(&self) -> &str {
        &self.cfg.alias
    }
}

impl Actor for TabletActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        for task in [self.query_task.take(), self.target_stream.take(), self.kill_task.take()].into_iter().flatten() {
            task.abort();
        }
        for task in self.alias_lanes.drain(..).chain(self.target_lanes.drain(..)) {
            task.abort();
        }
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if let Some(sub) = self.manage_sub.take() {
            ctx.add_stream(sub);
        }
        if let Some(sub) = self.query_sub.take() {
            self.query_task =
                Some(serve::spawn_query_loop(self.service.clone(), self.client.clone(), self.bulk.clone(), sub));
        } else {
            let subject = crate::protocol::subjects::tablet(&self.cfg.alias, "query");
            let queue = format!("tessera-tablet-{}", self.cfg.alias);
            self.alias_lanes = lanes::serve(&self.service, &self.bulk, &subject, &queue);
        }
        if let Some(sub) = self.kill_sub.take() {
            self.kill_task = Some(serve::spawn_kill_loop(self.service.clone(), sub));
        }
        // Registration needs only NATS, so a tablet whose MySQL is down is still listed, not
        // serving, with the reason.
        self.register(ctx);
        self.boot(ctx);
        self.watch_topology(ctx);
        ctx.run_interval(std::time::Duration::from_secs(2), |act, ctx| act.probe(ctx));
        let service = self.service.clone();
        ctx.run_interval(std::time::Duration::from_millis(500), move |_, _| {
            let service = service.clone();
            tokio::spawn(async move { service.reap().await });
        });
    }
}
