//! Starting, supervising, probing and stopping the tablet's MySQL; registration; health.

use std::time::Duration;

use actix::prelude::*;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts};
use tracing::{info, warn};

use super::dbconn::exec;
use super::{MysqldExited, Probed, StopTablet, TabletActor};
use crate::mysqld::{ensure_template, pid_alive};
use crate::protocol::admin::AdminRequest;
use crate::protocol::envelope::{now_ms, Envelope};
use crate::protocol::events::ClusterEvent;
use crate::protocol::subjects;
use crate::protocol::tablet::TabletHealth;
use crate::protocol::topology::{TabletRecord, TabletType, TopoEvent};
use crate::topo::commands::plan;
use crate::topo::TopoError;

const MYSQLD_START_TIMEOUT: Duration = Duration::from_secs(60);
const RETRY: Duration = Duration::from_secs(2);

impl TabletActor {
    /// Starts (or adopts) a managed mysqld, then connects and serves; for an external MySQL,
    /// connects and serves. Retries on failure.
    pub(super) fn boot(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopping {
            return;
        }
        self.busy = true;
        let Some(mysqld) = self.mysqld.clone() else {
            self.mysqld_up = true;
            self.busy = false;
            self.connect(ctx);
            return;
        };
        let template = self.template.clone();
        // A new tablet (no data yet, or a restore that did not finish) configured to start from
        // a backup restores the newest complete one of its shard first.
        let from_backup = self.cfg.restore_from_backup
            && (!mysqld.dir.join("data").exists() || crate::backup::incomplete_marker(&mysqld.dir).exists());
        let restore_from = from_backup.then(|| {
            let storage = self.cfg.backup.clone().unwrap_or_else(|| Err("this node has no backup storage".into()));
            (storage, self.writer.store().clone(), self.restore_progress())
        });
        if from_backup {
            self.not_serving("restoring the newest backup of the shard (restore_from_backup)");
        }
        let fut = async move {
            ensure_template(&template).await.map_err(|e| e.to_string())?;
            tokio::fs::create_dir_all(&mysqld.dir)
                .await
                .map_err(|e| format!("creating {}: {e}", mysqld.dir.display()))?;
            mysqld.prepare(&template).await.map_err(|e| e.to_string())?;
            let restored = match restore_from {
                Some((storage, store, progress)) => {
                    super::backup::restore_newest(storage, &mysqld, store, progress).await?
                }
                None => None,
            };
            let mut child = match mysqld.running_pid() {
                Some(pid) => {
                    info!(dir = %mysqld.dir.display(), pid, "adopting running mysqld");
                    None
                }
                None => Some(mysqld.spawn().map_err(|e| e.to_string())?),
            };
            mysqld.wait_ready(child.as_mut(), MYSQLD_START_TIMEOUT).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((child, restored))
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok((child, restored)) => {
                    if let Some(position) = restored {
                        act.restore_position = Some(position);
                        act.catching_up = true;
                    }
                    act.mysqld_up = true;
                    act.watch_mysqld(ctx, child);
                    act.connect(ctx);
                }
                Err(e) => {
                    warn!(tablet = %act.cfg.alias, error = %e, "mysqld did not start; retrying");
                    act.not_serving(&format!("mysqld did not start: {e}"));
                    act.publish_health(ctx);
                    ctx.run_later(RETRY, |act, ctx| act.boot(ctx));
                }
            }
        }));
    }

    /// Notices when mysqld exits: by waiting on the child, or by polling an adopted pid.
    fn watch_mysqld(&mut self, ctx: &mut Context<Self>, child: Option<tokio::process::Child>) {
        let addr = ctx.address();
        match child {
            Some(mut child) => {
                tokio::spawn(async move {
                    let detail = match child.wait().await {
                        Ok(status) => format!("mysqld exited ({status})"),
                        Err(e) => format!("lost track of mysqld: {e}"),
                    };
                    addr.do_send(MysqldExited { detail });
                });
            }
            None => {
                let Some(pid) = self.mysqld.as_ref().and_then(|m| m.running_pid()) else { return };
                tokio::spawn(async move {
                    while pid_alive(pid) {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    addr.do_send(MysqldExited { detail: format!("mysqld (pid {pid}) exited") });
                });
            }
        }
    }

    /// Connects the pool, prepares the keyspace database, registers, applies the type's
    /// read-only setting, and starts serving.
    pub(super) fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopping {
            return;
        }
        self.busy = true;
        let cfg = self.cfg.clone();
        let service = self.service.clone();
        let fut = async move {
            let host = cfg.mysql_host.clone().unwrap_or_else(|| "127.0.0.1".into());
            let (user, password) = cfg.admin_login();
            let base = OptsBuilder::default()
                .ip_or_hostname(host.clone())
                .tcp_port(cfg.port())
                .user(Some(user.clone()))
                .pass(Some(password));
            let open = |opts: OptsBuilder| {
                let (host, port, user) = (host.clone(), cfg.port(), user.clone());
                async move {
                    tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(opts))
                        .await
                        .map_err(|_| (false, format!("connecting to MySQL at {host}:{port}: timed out")))?
                        .map_err(|e| {
                            (access_denied(&e), format!("connecting to MySQL at {host}:{port} as {user}: {e}"))
                        })
                }
            };
            let mut conn = match (open(base.clone()).await, cfg.cluster_users.as_ref().filter(|_| cfg.is_managed())) {
                (Ok(c), _) => c,
                // A managed server not secured yet (fresh from the template): root without a
                // password, this once, makes the cluster's users and takes root's TCP login away.
                (Err((true, first)), Some(users)) => {
                    let root = base.clone().user(Some("root")).pass(Some(""));
                    let mut c = open(root).await.map_err(|(_, e)| format!("{first}; and as root: {e}"))?;
                    crate::mysqld::users::secure(&mut c, users).await?;
                    let _ = c.disconnect().await;
                    info!(tablet = %cfg.alias, "MariaDB secured: tessera_dba, tessera_repl and tessera_vrepl made; root logs in by the unix socket only");
                    open(base.clone()).await.map_err(|(_, e)| e)?
                }
                (Err((_, e)), _) => return Err(e),
            };
            if let Some(users) = cfg.cluster_users.as_ref().filter(|_| cfg.is_managed()) {
                // Every start: the users' grants and passwords as the cluster's (they may have
                // been re-keyed), and no root over TCP.
                crate::mysqld::users::secure(&mut conn, users).await?;
            }
            // Each tablet creates its database without logging it, so every tablet of the
            // shard has it whatever its role, and replication never sees a conflicting event.
            let db = crate::sql::quote_ident(&cfg.database());
            exec(&mut conn, "SET SESSION sql_log_bin = 0").await.map_err(|e| e.to_string())?;
            exec(&mut conn, &format!("CREATE DATABASE IF NOT EXISTS {db}")).await.map_err(|e| e.to_string())?;
            super::dbconn::move_legacy_database(&mut conn, &cfg.keyspace).await;
            let app = match create_query_user(&mut conn, &cfg.database()).await {
                Ok(password) => base.clone().user(Some(QUERY_USER)).pass(Some(password)),
                Err(e) => {
                    // An external server whose configured user may not create users: the
                    // query service runs as that user, as the operator chose.
                    warn!(tablet = %cfg.alias, error = %e, "cannot create the query-service user; queries run as the configured user");
                    base.clone()
                }
            };
            let _ = conn.disconnect().await;
            // A non-zero idle TTL makes a pool keep up to its size in idle connections (with 0,
            // mysql_async keeps only `min` and closes every other connection on return: one new
            // MySQL connection per query).
            let pool = |opts: OptsBuilder, size: usize| {
                let constraints = PoolConstraints::new(0, size).unwrap_or_default();
                Pool::new(
                    opts.db_name(Some(cfg.database())).pool_opts(
                        PoolOpts::default()
                            .with_constraints(constraints)
                            .with_reset_connection(false)
                            .with_inactive_connection_ttl(Duration::from_secs(300)),
                    ),
                )
            };
            // With tablet lanes each lane has a share of the query pool. Only its lane takes
            // connections from it, and mysql_async opens connections (and starts the pool's
            // background tasks) on the runtime of the task that asks: they live on the lane.
            let lane_pools = super::lanes::lanes()
                .iter()
                .map(|_| pool(app.clone(), super::lanes::pool_share(cfg.pool_size)))
                .collect();
            service.set_lane_pools(lane_pools);
            // Kills, probes and DBA requests. A KILL may take up to 2 s to return (MariaDB retries
            // waking a victim that waits on a busy mutex, e.g. many SLEEP()s), so there is room
            // to kill every statement the query pool can run at once, side by side.
            let kills = super::lanes::query_connections(cfg.pool_size) + 4;
            service.set_pools(pool(app, cfg.pool_size), pool(base, kills));
            Ok::<_, String>(())
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok(()) => {
                    act.connected = true;
                    if let Some(position) = act.restore_position.take() {
                        act.resume_after_restore(ctx, position);
                    } else if std::mem::take(&mut act.resume_replication) {
                        act.start_replication_again(ctx);
                    }
                    act.maybe_serve(ctx);
                }
                Err(e) => {
                    warn!(tablet = %act.cfg.alias, error = %e, "MySQL not reachable; retrying");
                    act.not_serving(&e);
                    act.publish_health(ctx);
                    // An external server, or a managed one that is up (a login or user setup
                    // that failed once): try again. A managed mysqld that died boots again
                    // through its exit watcher instead.
                    if act.mysqld.is_none() || act.mysqld_up {
                        ctx.run_later(RETRY, |act, ctx| act.connect(ctx));
                    }
                }
            }
        }));
    }

    /// Serves once the tablet is both registered and connected to MySQL.
    pub(super) fn maybe_serve(&mut self, ctx: &mut Context<Self>) {
        let marker = self.mysqld.as_ref().map(|m| crate::backup::incomplete_marker(&m.dir));
        if self.data_incomplete.is_none() && marker.as_ref().is_some_and(|m| m.exists()) {
            self.data_incomplete = Some(
                "a restore from backup did not finish: the data is incomplete; run RestoreFromBackup again".into(),
            );
        }
        if let Some(why) = &self.data_incomplete {
            // A restore that failed after replacing the data: serving it would answer wrong.
            let why = why.clone();
            self.not_serving(&why);
            return;
        }
        if self.catching_up {
            // Restored or backed up: behind the primary until replication catches up (probe).
            self.not_serving("catching up with the primary by replication");
            return;
        }
        if self.registered && self.connected && !self.stopping {
            // A primary replaced while it was away never opens its server for writes.
            if self.fence_if_replaced(ctx) {
                return;
            }
            self.apply_type(ctx, self.state.tablet_type());
        }
    }

    /// Registers the tablet (creating its keyspace and shard records if missing). A tablet
    /// already in the topology keeps its recorded type.
    pub(super) fn register(&mut self, ctx: &mut Context<Self>) {
        let writer = self.writer.clone();
        let cfg = self.cfg.clone();
        let node_id = self.node_id.clone();
        let fut = async move {
            let ks = AdminRequest::CreateKeyspace { name: cfg.keyspace.clone(), durability_policy: String::new() };
            match writer.write(ks.name(), &subjects::topo_keyspace(&cfg.keyspace), |t| plan(&ks, t)).await {
                Ok(_) | Err(TopoError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            let shard = AdminRequest::CreateShard {
                keyspace: cfg.keyspace.clone(),
                shard: cfg.shard.clone(),
                force: true,
                allow_overlap: false,
            };
            writer.write(shard.name(), &subjects::topo_keyspace(&cfg.keyspace), |t| plan(&shard, t)).await?;
            writer
                .write("RegisterTablet", &subjects::topo_tablet(&cfg.alias), |topo| {
                    let existing = topo.tablets.get(&cfg.alias);
                    let tablet_type = existing
                        .filter(|t| t.keyspace == cfg.keyspace && t.shard == cfg.shard)
                        .map_or(cfg.tablet_type, |t| t.tablet_type);
                    let record = TabletRecord {
                        alias: cfg.alias.clone(),
                        cell: cfg.cell().to_string(),
                        keyspace: cfg.keyspace.clone(),
                        shard: cfg.shard.clone(),
                        tablet_type,
                        node_id: node_id.clone(),
                        hostname: crate::config::hostname(),
                        mysql_host: cfg.mysql_host.clone().unwrap_or_else(|| "127.0.0.1".into()),
                        mysql_port: cfg.port(),
                        managed: cfg.is_managed(),
                    };
                    if existing == Some(&record) {
                        return Ok(Vec::new());
                    }
                    Ok(vec![TopoEvent::TabletRegistered { tablet: record }])
                })
                .await?;
            let t = writer.view().snapshot().tablets.get(&cfg.alias).map(|t| t.tablet_type);
            Ok(t.unwrap_or(cfg.tablet_type))
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(tablet_type) => {
                act.registered = true;
                *act.state.tablet_type.write().unwrap_or_else(|e| e.into_inner()) = tablet_type;
                act.maybe_serve(ctx);
            }
            Err(e) => {
                warn!(tablet = %act.cfg.alias, error = %e, "could not register in the topology; retrying");
                act.not_serving(&format!("not registered in the topology: {e}"));
                ctx.run_later(RETRY, |act, ctx| act.register(ctx));
            }
        }));
    }

    /// Sets the type, the server's read_only flag to match, serves, and subscribes the target.
    pub(super) fn apply_type(&mut self, ctx: &mut Context<Self>, tablet_type: TabletType) {
        let service = self.service.clone();
        let epoch = self.type_epoch;
        let fut = async move {
            let mut conn = service.dba_conn().await?;
            let ro = if tablet_type == TabletType::Primary { "OFF" } else { "ON" };
            exec(&mut conn, &format!("SET GLOBAL read_only = {ro}")).await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
            // The type changed while read_only was being set (a MakePrimary raced this): this
            // read_only may be the old type's, so set the current type's instead.
            Ok(()) if act.type_epoch != epoch => {
                let current = act.state.tablet_type();
                act.apply_type(ctx, current);
            }
            Ok(()) => {
                act.last_error = None;
                act.state.set_serving(true, "");
                act.set_type(ctx, tablet_type);
                act.durability = None;
                act.apply_durability(ctx);
                info!(tablet = %act.cfg.alias, tablet_type = %tablet_type, "tablet serving");
                act.publish_health(ctx);
            }
            Err(e) => {
                act.not_serving(&format!("could not set read_only for {tablet_type}: {e}"));
                act.publish_health(ctx);
                ctx.run_later(RETRY, move |act, ctx| act.apply_type(ctx, tablet_type));
            }
        }));
    }

    /// Records a type while the tablet does not serve (BACKUP, RESTORE, and back): health
    /// reports it; the target subscription follows when the tablet serves again.
    pub(super) fn set_type_locally(&mut self, tablet_type: TabletType) {
        self.type_epoch += 1;
        *self.state.tablet_type.write().unwrap_or_else(|e| e.into_inner()) = tablet_type;
    }

    /// Records a new type and moves the target subscription to it.
    pub(super) fn set_type(&mut self, ctx: &mut Context<Self>, tablet_type: TabletType) {
        self.type_epoch += 1;
        let old = self.state.tablet_type();
        *self.state.tablet_type.write().unwrap_or_else(|e| e.into_inner()) = tablet_type;
        if old != tablet_type {
            self.service.sequences.clear();
        }
        if !self.state.serving.load(std::sync::atomic::Ordering::SeqCst) {
            // Joins the target queue group when it starts serving.
            return;
        }
        if self.target_type == Some(tablet_type) && (self.target_stream.is_some() || !self.target_lanes.is_empty()) {
            return;
        }
        self.stop_target_streams();
        self.target_type = Some(tablet_type);
        let subject = subjects::target(&self.cfg.keyspace, &self.cfg.shard, tablet_type.as_str());
        let queue = format!("tessera-target-{}-{}-{}", self.cfg.keyspace, self.cfg.shard, tablet_type.as_str());
        if !super::lanes::lanes().is_empty() {
            self.target_lanes = super::lanes::serve(&self.service, &self.bulk, &subject, &queue);
            return;
        }
        let client = self.client.clone();
        let fut = async move { client.queue_subscribe(subject, queue).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| match res {
            Ok(sub) if act.target_type == Some(tablet_type) => {
                act.target_stream =
                    Some(super::serve::spawn_query_loop(act.service.clone(), act.client.clone(), act.bulk.clone(), sub))
            }
            Ok(_) => {}
            Err(e) => warn!(tablet = %act.cfg.alias, error = %e, "could not subscribe to the target subject"),
        }));
    }

    /// Stops serving: the query service refuses requests with `reason`, and the tablet leaves
    /// its target queue group, so requests by keyspace/shard/type go to serving tablets only.
    pub(super) fn not_serving(&mut self, reason: &str) {
        self.state.set_serving(false, reason);
        self.last_error = Some(reason.to_string());
        self.stop_target_streams();
        self.target_type = None;
    }

    /// Leaves the target queue group (on every lane).
    fn stop_target_streams(&mut self) {
        for task in self.target_stream.take().into_iter().chain(self.target_lanes.drain(..)) {
            task.abort();
        }
    }

    /// Checks MySQL (and replication on non-primaries); the answer comes back as [`Probed`].
    pub(super) fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopping || !self.connected {
            self.publish_health(ctx);
            return;
        }
        let service = self.service.clone();
        let fut = async move {
            let mut conn = match service.dba_conn().await {
                Ok(c) => c,
                Err(e) => return Probed { mysql_ok: Err(e.to_string()), replication: None, server: None },
            };
            let server = super::manage::server_version(&mut conn).await;
            match super::manage::replication_status(&mut conn).await {
                Ok(r) => Probed { mysql_ok: Ok(()), replication: Some(r), server },
                Err(e) => Probed { mysql_ok: Err(e.to_string()), replication: None, server },
            }
        };
        ctx.spawn(fut.into_actor(self).map(|p, act, ctx| act.on_probed(ctx, p)));
    }

    fn on_probed(&mut self, ctx: &mut Context<Self>, p: Probed) {
        match p.mysql_ok {
            Ok(()) => {
                self.replication = p.replication;
                if p.server.is_some() {
                    self.server = p.server;
                }
                if self.catching_up && self.replication.as_ref().is_some_and(caught_up) {
                    info!(tablet = %self.cfg.alias, "caught up with the primary; serving");
                    self.catching_up = false;
                    self.maybe_serve(ctx);
                }
                self.check_lag(ctx);
                if !self.state.serving.load(std::sync::atomic::Ordering::SeqCst)
                    && !self.busy
                    && !self.catching_up
                    && !self.rejoining
                    && self.lagging.is_none()
                    && self.offline.is_none()
                    && self.data_incomplete.is_none()
                    && self.registered
                    && self.connected
                {
                    // MySQL answers again (an external server came back): resume serving.
                    self.apply_type(ctx, self.state.tablet_type());
                }
            }
            Err(e) => {
                if self.mysqld.is_none() {
                    self.not_serving(&format!("MySQL at {}:{} unreachable: {e}", self.host(), self.cfg.port()));
                }
            }
        }
        self.publish_health(ctx);
    }

    fn host(&self) -> String {
        self.cfg.mysql_host.clone().unwrap_or_else(|| "127.0.0.1".into())
    }

    /// The tablet's health as of now.
    pub(super) fn health(&self) -> TabletHealth {
        let tablet_type = self.state.tablet_type();
        TabletHealth {
            alias: self.cfg.alias.clone(),
            keyspace: self.cfg.keyspace.clone(),
            shard: self.cfg.shard.clone(),
            tablet_type,
            node_id: self.node_id.clone(),
            mysql_host: self.host(),
            mysql_port: self.cfg.port(),
            serving: self.state.serving.load(std::sync::atomic::Ordering::SeqCst),
            mysqld_up: self.mysqld_up,
            mysqld_restarts: self.mysqld_restarts,
            replication: self.replication.clone(),
            last_error: self.last_error.clone(),
            server_version: self.server.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
            version_comment: self.server.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
            time_ms: now_ms(),
        }
    }

    /// Publishes health, and a cluster event when serving or mysqld state changed.
    pub(super) fn publish_health(&mut self, _ctx: &mut Context<Self>) {
        let health = self.health();
        let now = (health.serving, health.mysqld_up);
        let mut events = Vec::new();
        if let Some((was_serving, was_up)) = self.announced {
            if was_up && !now.1 {
                events.push((
                    "MysqldDied",
                    format!("tablet {} mysqld died: {}", health.alias, health.last_error.clone().unwrap_or_default()),
                ));
            }
            if !was_up && now.1 {
                events.push(("MysqldRestarted", format!("tablet {} mysqld is running again", health.alias)));
            }
            if was_serving != now.0 {
                let summary = if now.0 {
                    format!(
                        "tablet {} ({} {}/{}) is serving",
                        health.alias, health.tablet_type, health.keyspace, health.shard
                    )
                } else {
                    format!("tablet {} is not serving: {}", health.alias, health.last_error.clone().unwrap_or_default())
                };
                events.push(("TabletServingChanged", summary));
            }
        } else if now.0 {
            events
                .push(("TabletServingChanged", format!("tablet {} ({}) is serving", health.alias, health.tablet_type)));
        }
        if self.announced != Some(now) && (self.announced.is_some() || now.0) {
            self.announced = Some(now);
        }
        let client = self.client.clone();
        let store = self.writer.store().clone();
        let subject = subjects::health(&health.alias);
        let payload = Envelope::new(self.node_id.clone(), &health).encode();
        let mut dedup = Vec::new();
        for (name, summary) in events {
            self.events_sent += 1;
            dedup.push((
                ClusterEvent::tablet(name, summary, &health),
                format!("tablet-{}-{}-{}", health.alias, self.incarnation, self.events_sent),
            ));
        }
        // Health is published without waiting: a report that cannot be sent is replaced by
        // the next one a couple of seconds later.
        tokio::spawn(async move {
            if let Ok(bytes) = payload {
                let _ = client.publish(subject, bytes.into()).await;
            }
            for (ev, id) in dedup {
                if let Err(e) = store.publish_event(&ev, &id).await {
                    warn!(event = %ev.name, error = %e, "could not publish tablet event");
                }
            }
        });
    }
}

impl Handler<MysqldExited> for TabletActor {
    type Result = ();

    fn handle(&mut self, msg: MysqldExited, ctx: &mut Self::Context) {
        if self.stopping {
            return;
        }
        if self.offline.is_some() {
            // A restore or a builtin backup stopped it; it starts it again.
            self.mysqld_up = false;
            self.connected = false;
            return;
        }
        warn!(tablet = %self.cfg.alias, detail = %msg.detail, "mysqld exited; restarting it");
        self.mysqld_up = false;
        self.connected = false;
        self.mysqld_restarts += 1;
        self.service.metrics.mysqld_restarts.inc();
        self.not_serving(&format!("{}; restarting", msg.detail));
        self.publish_health(ctx);
        let service = self.service.clone();
        tokio::spawn(async move { service.rollback_all().await });
        ctx.run_later(Duration::from_millis(500), |act, ctx| act.boot(ctx));
    }
}

impl Handler<StopTablet> for TabletActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopTablet, ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        self.not_serving("tablet is shutting down");
        self.publish_health(ctx);
        let service = self.service.clone();
        let mysqld = self.mysqld.clone();
        let alias = self.cfg.alias.clone();
        Box::pin(
            async move {
                service.rollback_all().await;
                if let Some(m) = mysqld {
                    m.stop(Duration::from_secs(30)).await;
                    info!(tablet = %alias, "mysqld stopped");
                }
            }
            .into_actor(self),
        )
    }
}

/// Whether MySQL refused the login (1045), as opposed to not answering.
/// Replication runs and the replica has applied everything it received from its primary.
fn caught_up(r: &crate::protocol::tablet::ReplicationStatus) -> bool {
    r.io_running && r.sql_running && r.lag_secs == Some(0)
}

fn access_denied(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1045)
}

/// The MySQL user the query service runs as.
pub const QUERY_USER: &str = "tessera_app";

/// Creates (or re-keys) the query service's user with a fresh secret: it may read, write and
/// change tables in the keyspace's database and nothing else (no global settings, no other
/// databases, no other sessions). Not written to the binlog: every tablet makes its own.
async fn create_query_user(conn: &mut mysql_async::Conn, database: &str) -> Result<String, String> {
    let password = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let user = format!("{}@'%'", crate::sql::quote_bytes(QUERY_USER.as_bytes()));
    let pw = crate::sql::quote_bytes(password.as_bytes());
    for sql in [
        "SET SESSION sql_log_bin = 0".to_string(),
        format!("CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {pw}"),
        format!("ALTER USER {user} IDENTIFIED BY {pw}"),
        // Only the grants below: none left from another database name.
        format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {user}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE TEMPORARY TABLES, \
             LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER ON {}.* TO {user}",
            crate::sql::quote_ident(database)
        ),
    ] {
        exec(conn, &sql).await.map_err(|e| e.to_string())?;
    }
    Ok(password)
}
