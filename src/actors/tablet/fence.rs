//! Fencing: a tablet that was primary and has been replaced (the topology names another
//! primary of its shard, with a newer term) takes no writes, whatever its server allows, and
//! rejoins the shard as a replica of the new primary. If its server holds transactions the new
//! primary does not have (MariaDB refuses to replicate from its position in GTID strict mode),
//! it is left drained with an event saying so: never silently merged.
//!
//! The check runs before every write ([`Fence::replaced_by`]), whenever the node's topology
//! view changes, and before a tablet that restarts as primary opens its server for writes.

use std::time::Duration;

use actix::prelude::*;
use tracing::{info, warn};

use super::TabletActor;
use crate::protocol::tablet::ReplicationStatus;
use crate::protocol::topology::{TabletRecord, TabletType};
use crate::topo::view::TopoView;

/// What the topology says of a tablet's shard, read on every write.
pub struct Fence {
    view: TopoView,
    keyspace: String,
    shard: String,
    /// The term this tablet was promoted for (by `MakePrimary`), so the previous primary's
    /// entry, still in the topology until the reparent records the new term, is not taken
    /// for a newer one. 0 after a restart: any other primary then counts.
    promoted: std::sync::atomic::AtomicU64,
}

impl Fence {
    pub fn new(view: TopoView, keyspace: &str, shard: &str) -> Fence {
        Fence {
            view,
            keyspace: keyspace.to_string(),
            shard: shard.to_string(),
            promoted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records the term a promotion is for.
    pub fn promoted_at(&self, term: u64) {
        self.promoted.store(term, std::sync::atomic::Ordering::SeqCst);
    }

    /// The shard's primary and term when the topology names a primary other than `alias`,
    /// at a term not older than the one this tablet was promoted for.
    pub fn replaced_by(&self, alias: &str) -> Option<(String, u64)> {
        let topo = self.view.snapshot();
        let s = topo.shard(&self.keyspace, &self.shard)?;
        match &s.primary {
            Some(p) if p != alias && s.primary_term >= self.promoted.load(std::sync::atomic::Ordering::SeqCst) => {
                Some((p.clone(), s.primary_term))
            }
            _ => None,
        }
    }

    /// The new primary's record, when this tablet has been replaced.
    fn new_primary(&self, alias: &str) -> Option<(TabletRecord, u64)> {
        let (p, term) = self.replaced_by(alias)?;
        let topo = self.view.snapshot();
        topo.tablets.get(&p).cloned().map(|t| (t, term))
    }

    /// Whether the keyspace's durability policy has this tablet acknowledge the primary's
    /// commits when it replicates as `tablet_type` from a primary in `primary_cell`.
    pub fn acknowledges(&self, tablet_type: TabletType, my_cell: &str, primary_cell: &str) -> bool {
        let topo = self.view.snapshot();
        let policy = topo.keyspaces.get(&self.keyspace).map(|k| k.durability_policy.clone()).unwrap_or_default();
        crate::reparent::acknowledges(&policy, tablet_type, my_cell, primary_cell)
    }
}

/// Polls replication after a former primary is pointed at the new one: running, or the
/// reason MariaDB refused (its position is not in the new primary's history).
const REJOIN_CHECK: Duration = Duration::from_secs(5);

impl TabletActor {
    /// Follows the node's topology view: a replaced primary fences itself at once.
    pub(super) fn watch_topology(&mut self, ctx: &mut Context<Self>) {
        let mut rx = self.writer.view().subscribe();
        let addr = ctx.address();
        ctx.spawn(
            async move {
                while rx.changed().await.is_ok() {
                    addr.do_send(TopologyChanged);
                }
            }
            .into_actor(self),
        );
    }

    /// True (and the rejoin started) when this tablet is a primary the topology has replaced.
    pub(super) fn fence_if_replaced(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.state.tablet_type() != TabletType::Primary {
            return false;
        }
        let Some((primary, term)) = self.state.fence.new_primary(&self.cfg.alias) else {
            return false;
        };
        if self.rejoining {
            return true;
        }
        self.rejoining = true;
        let why = format!("replaced as primary by {} (term {term}); rejoining as its replica", primary.alias);
        warn!(tablet = %self.cfg.alias, "{why}");
        self.not_serving(&why);
        self.publish_health(ctx);
        self.recovery_event("PrimaryFenced", format!("{}: {why}", self.cfg.alias));
        self.rejoin(ctx, primary);
        true
    }

    /// Read-only at once, then replication from the new primary from this server's own
    /// position; a replica if MariaDB accepts that position, else drained.
    fn rejoin(&mut self, ctx: &mut Context<Self>, primary: TabletRecord) {
        let service = self.service.clone();
        let login = self.cfg.replication_login();
        let ack = self.state.fence.acknowledges(TabletType::Replica, self.cfg.cell(), &primary.cell);
        let host = if primary.mysql_host.is_empty() { "127.0.0.1".to_string() } else { primary.mysql_host.clone() };
        let port = primary.mysql_port;
        let fut = async move {
            let mut conn = service.dba_conn().await.map_err(|e| e.to_string())?;
            super::dbconn::exec(&mut conn, "SET GLOBAL read_only = ON").await.map_err(|e| e.to_string())?;
            super::manage::replicate_from(&mut conn, &host, port, (&login.0, &login.1), true, ack)
                .await
                .map_err(|e| e.to_string())?;
            // Held by a planned reparent's demotion: a replica refuses writes anyway.
            service.set_writes_held(false, Vec::new(), Duration::ZERO).await;
            let start = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let s = super::manage::replication_status(&mut conn).await.map_err(|e| e.to_string())?;
                if let Some(e) = s.last_error.as_ref().filter(|e| e.contains("1236") || e.contains("GTID")) {
                    let _ = super::dbconn::exec(&mut conn, "STOP SLAVE").await;
                    return Ok(Err((e.clone(), s)));
                }
                if (s.io_running && s.sql_running) || start.elapsed() > REJOIN_CHECK {
                    return Ok(Ok(s));
                }
            }
        };
        ctx.spawn(fut.into_actor(self).map(
            move |res: Result<Result<ReplicationStatus, (String, ReplicationStatus)>, String>, act, ctx| {
                act.rejoining = false;
                match res {
                    Ok(Ok(status)) => {
                        info!(tablet = %act.cfg.alias, primary = %primary.alias, "rejoined as a replica");
                        act.replication = Some(status);
                        act.set_type_locally(TabletType::Replica);
                        act.record_own_type(TabletType::Replica);
                        act.recovery_event(
                            "PrimaryRejoined",
                            format!("{} rejoined as a replica of {}", act.cfg.alias, primary.alias),
                        );
                        act.maybe_serve(ctx);
                    }
                    Ok(Err((error, status))) => {
                        let why = format!(
                            "holds transactions the new primary {} does not have (its position {}): {error}; \
                         left drained and read-only: inspect it, then restore it from a backup or rebuild it",
                            primary.alias, status.binlog_position
                        );
                        warn!(tablet = %act.cfg.alias, "{why}");
                        act.replication = Some(status);
                        act.set_type_locally(TabletType::Drained);
                        act.record_own_type(TabletType::Drained);
                        act.recovery_event("PrimaryDiverged", format!("{}: {why}", act.cfg.alias));
                        act.not_serving(&why);
                        act.publish_health(ctx);
                    }
                    Err(e) => {
                        warn!(tablet = %act.cfg.alias, error = %e, "could not rejoin as a replica; retrying");
                        act.not_serving(&format!("replaced as primary; rejoining failed ({e}); retrying"));
                        act.publish_health(ctx);
                        ctx.run_later(Duration::from_secs(2), |act, ctx| {
                            act.fence_if_replaced(ctx);
                        });
                    }
                }
            },
        ));
    }

    /// Applies the keyspace's durability policy to the server for the tablet's current type
    /// (after it starts serving, and when the policy or the shard's primary changes).
    pub(super) fn apply_durability(&mut self, ctx: &mut Context<Self>) {
        let tablet_type = self.state.tablet_type();
        let topo = self.writer.view().snapshot();
        let Some(ks) = topo.keyspaces.get(&self.cfg.keyspace) else { return };
        let policy = ks.durability_policy.clone();
        let primary_cell = ks
            .shards
            .get(&self.cfg.shard)
            .and_then(|s| s.primary.as_ref())
            .and_then(|p| topo.tablets.get(p))
            .map(|t| t.cell.clone())
            .unwrap_or_default();
        let want = match tablet_type {
            TabletType::Primary => (crate::reparent::primary_waits(&policy), false),
            TabletType::Replica | TabletType::Rdonly => {
                (false, crate::reparent::acknowledges(&policy, tablet_type, self.cfg.cell(), &primary_cell))
            }
            _ => return,
        };
        let key = format!("{tablet_type}/{policy}/{primary_cell}");
        if self.durability.as_deref() == Some(key.as_str()) {
            return;
        }
        self.durability = Some(key);
        let service = self.service.clone();
        let alias = self.cfg.alias.clone();
        let fut = async move {
            let mut conn = service.dba_conn().await?;
            super::manage::ensure_semi_sync(&mut conn, want.0, want.1).await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| match res {
            Ok(true) => info!(tablet = %alias, policy = %policy, primary_waits = want.0, acknowledges = want.1, "semi-sync settings applied"),
            Ok(false) => {}
            Err(e) => {
                warn!(tablet = %alias, error = %e, "could not apply the durability policy; trying again on the next change");
                act.durability = None;
            }
        }));
    }

    /// Records this tablet's type in the topology (in the background; logged on failure).
    pub(super) fn record_own_type(&self, tablet_type: TabletType) {
        let writer = self.writer.clone();
        let alias = self.cfg.alias.clone();
        tokio::spawn(async move {
            if let Err(e) = writer.record_tablet_type(&alias, tablet_type).await {
                warn!(tablet = %alias, error = %e, "could not record the tablet's type in the topology");
            }
        });
    }

    /// Publishes a recovery event (in the background).
    pub(super) fn recovery_event(&self, name: &str, summary: String) {
        let (store, name) = (self.writer.store().clone(), name.to_string());
        tokio::spawn(async move { crate::reparent::publish_event(&store, &name, summary).await });
    }
}

/// The node's topology view moved (internal).
#[derive(Message)]
#[rtype(result = "()")]
struct TopologyChanged;

impl Handler<TopologyChanged> for TabletActor {
    type Result = ();

    fn handle(&mut self, _: TopologyChanged, ctx: &mut Self::Context) {
        if self.registered
            && self.connected
            && !self.stopping
            && !self.fence_if_replaced(ctx)
            && self.state.serving.load(std::sync::atomic::Ordering::SeqCst)
        {
            self.apply_durability(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topology::TopoEvent;
    use crate::topo::state::Topology;

    fn topo_with_primary(primary: Option<&str>, term: u64) -> Topology {
        let mut t = Topology::default();
        let seq = |t: &Topology| t.seq + 1;
        let commit = |events| crate::protocol::topology::TopoCommit { command: "test".into(), events };
        let s = seq(&t);
        crate::topo::state::project_commit(
            &mut t,
            s,
            &commit(vec![
                TopoEvent::KeyspaceCreated { keyspace: "ks".into(), durability_policy: "semi_sync".into() },
                TopoEvent::ShardCreated { keyspace: "ks".into(), shard: "0".into(), is_primary_serving: true },
                TopoEvent::ShardPrimaryChanged {
                    keyspace: "ks".into(),
                    shard: "0".into(),
                    primary: primary.map(String::from),
                    term,
                },
            ]),
        );
        t
    }

    #[test]
    fn a_primary_is_replaced_only_by_another_named_primary() {
        let fence = Fence::new(TopoView::fixed(topo_with_primary(Some("b"), 4)), "ks", "0");
        assert_eq!(fence.replaced_by("a"), Some(("b".to_string(), 4)));
        assert_eq!(fence.replaced_by("b"), None);
        // No primary yet (InitShardPrimary promotes before it records): not replaced.
        let fence = Fence::new(TopoView::fixed(topo_with_primary(None, 0)), "ks", "0");
        assert_eq!(fence.replaced_by("a"), None);
        // Promoted for term 5 while the topology still shows term 4's primary: not replaced,
        // until a term of at least 5 names another.
        let fence = Fence::new(TopoView::fixed(topo_with_primary(Some("b"), 4)), "ks", "0");
        fence.promoted_at(5);
        assert_eq!(fence.replaced_by("a"), None);
        let fence = Fence::new(TopoView::fixed(topo_with_primary(Some("b"), 5)), "ks", "0");
        fence.promoted_at(5);
        assert_eq!(fence.replaced_by("a"), Some(("b".to_string(), 5)));
        // Another shard's primary is none of its business.
        let fence = Fence::new(TopoView::fixed(topo_with_primary(Some("b"), 4)), "ks", "-80");
        assert_eq!(fence.replaced_by("a"), None);
        let fence = Fence::new(TopoView::fixed(topo_with_primary(Some("b"), 4)), "ks", "0");
        assert!(fence.acknowledges(TabletType::Replica, "z1", "z1"));
        assert!(!fence.acknowledges(TabletType::Rdonly, "z1", "z1"));
    }
}
