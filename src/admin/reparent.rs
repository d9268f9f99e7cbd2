//! `PlannedReparentShard`, and what every reparent shares (the emergency one is in
//! [`super::emergency`], commands on one tablet in [`super::reparent_tablet`]).
//!
//! A reparent first takes the shard's reparent lock (a topology event on the shard's subject,
//! so of two reparents of one shard the second is refused), and ends with one topology write
//! that names the new primary with a new term (checked against the lock, so nothing else
//! changed the shard meanwhile). The old primary is not repointed here: it sees the newer term
//! in its topology view, refuses writes, and rejoins as a replica by itself (or is left
//! drained when its server holds transactions the new primary does not have).

use std::time::{Duration, Instant};

use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError};
use crate::protocol::envelope::now_ms;
use crate::protocol::subjects;
use crate::protocol::tablet::{ManageRequest, ManageResponse, ReplicationStatus, TabletError};
use crate::protocol::topology::{ReparentLock, TabletRecord, TabletType, TopoEvent};
use crate::reparent::{acknowledges, primary_waits};
use crate::topo::state::{Keyspace, Shard, Topology};
use crate::topo::TopoError;

pub(super) fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

/// How long the old primary may take to finish its open transactions before they are
/// rolled back (planned reparent).
const DRAIN: Duration = Duration::from_secs(3);
/// How long a status probe of one tablet may take while choosing a candidate.
pub(super) const PROBE: Duration = Duration::from_secs(5);

pub(super) fn position_of(resp: ManageResponse) -> Result<ReplicationStatus, String> {
    match resp {
        ManageResponse::Position { status } => Ok(status),
        ManageResponse::Status { health } => Ok(health.replication.unwrap_or_default()),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Tablets a reparent points at the new primary: those that replicate in normal service
/// (not drained ones, which may hold a diverged history, nor tablets in a backup or restore).
pub(super) fn follows_primary(t: &TabletRecord) -> bool {
    matches!(t.tablet_type, TabletType::Replica | TabletType::Rdonly | TabletType::Spare)
}

/// The keyspace and shard records, or which does not exist.
pub(super) fn shard_of<'a>(
    topo: &'a Topology,
    keyspace: &str,
    shard: &str,
) -> Result<(&'a Keyspace, &'a Shard), RemoteError> {
    let ks = topo
        .keyspaces
        .get(keyspace)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
    let s = ks
        .shards
        .get(shard)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("shard `{keyspace}/{shard}` does not exist")))?;
    Ok((ks, s))
}

/// A tablet named to become primary: one of `tablets`, and a replica.
pub(super) fn check_candidate(
    tablets: &[TabletRecord],
    w: &str,
    keyspace: &str,
    shard: &str,
) -> Result<(), RemoteError> {
    let t = tablets.iter().find(|t| t.alias == w).ok_or_else(|| {
        err(
            ErrorCode::FailedPrecondition,
            format!("tablet `{w}` is not a tablet of {keyspace}/{shard}; nothing was changed"),
        )
    })?;
    if t.tablet_type != TabletType::Replica {
        return Err(err(
            ErrorCode::FailedPrecondition,
            format!("{w} is {}: only a replica can become primary; nothing was changed", t.tablet_type),
        ));
    }
    Ok(())
}

/// `host` as a replica connects to it.
pub(super) fn host_of(t: &TabletRecord) -> String {
    if t.mysql_host.is_empty() {
        "127.0.0.1".into()
    } else {
        t.mysql_host.clone()
    }
}

impl AdminService {
    pub(super) async fn reparent_command(&self, req: AdminRequest) -> AdminReply {
        let alias = |a: &str| super::tablets::alias_arg(a);
        let opt = |a: Option<String>| a.as_deref().map(super::tablets::alias_arg).transpose();
        match req {
            AdminRequest::PlannedReparentShard {
                keyspace,
                shard,
                new_primary,
                avoid_primary,
                wait_replicas_timeout_ms,
            } => {
                let timeout = Duration::from_millis(wait_replicas_timeout_ms.max(1));
                let (new_primary, avoid) = (opt(new_primary)?, opt(avoid_primary)?);
                self.planned(&keyspace, &shard, new_primary.as_deref(), avoid.as_deref(), timeout).await
            }
            AdminRequest::EmergencyReparentShard {
                keyspace,
                shard,
                new_primary,
                wait_replicas_timeout_ms,
                expected_term,
            } => {
                let timeout = Duration::from_millis(wait_replicas_timeout_ms.max(1));
                self.emergency(&keyspace, &shard, opt(new_primary)?.as_deref(), timeout, expected_term).await
            }
            AdminRequest::ReparentTablet { alias: a } => self.reparent_tablet(&alias(&a)?).await,
            AdminRequest::TabletExternallyReparented { alias: a } => self.externally_reparented(&alias(&a)?).await,
            AdminRequest::SetWritable { alias: a, writable } => self.set_writable(&alias(&a)?, writable).await,
            other => Err(err(ErrorCode::Internal, format!("{} is not a reparent command", other.name()))),
        }
    }

    /// Takes the shard's reparent lock, or says who holds it.
    pub(super) async fn lock_shard(
        &self,
        keyspace: &str,
        shard: &str,
        command: &str,
        timeout: Duration,
        expected_term: Option<u64>,
    ) -> Result<(ReparentLock, u64), RemoteError> {
        let lock = ReparentLock {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            command: command.to_string(),
            by: format!("{}:{}", crate::config::hostname(), std::process::id()),
            until_ms: now_ms() + timeout.as_millis() as u64 + 60_000,
        };
        self.writer
            .write(command, &subjects::topo_shard(keyspace, shard), |topo| {
                let s = topo
                    .shard(keyspace, shard)
                    .ok_or_else(|| TopoError::NotFound(format!("shard `{keyspace}/{shard}` does not exist")))?;
                if let Some(term) = expected_term.filter(|t| *t != s.primary_term) {
                    return Err(TopoError::FailedPrecondition(format!(
                        "{keyspace}/{shard} is at primary term {}, not {term}: its primary changed since this \
                         reparent was asked for; nothing was changed",
                        s.primary_term
                    )));
                }
                if let Some(l) = s.reparent.as_ref().filter(|l| l.until_ms > now_ms()) {
                    return Err(TopoError::FailedPrecondition(format!(
                        "{keyspace}/{shard} is being reparented already ({} {} by {}); nothing was changed",
                        l.command, l.id, l.by
                    )));
                }
                Ok(vec![TopoEvent::ShardReparentLocked {
                    keyspace: keyspace.to_string(),
                    shard: shard.to_string(),
                    lock: Some(lock.clone()),
                }])
            })
            .await
            .map_err(RemoteError::from)?;
        // The term the reparent will record: the lock keeps other reparents out meanwhile.
        let term = self.writer.view().snapshot().shard(keyspace, shard).map_or(1, |s| s.primary_term + 1);
        Ok((lock, term))
    }

    /// Releases the lock after a reparent that changed nothing (or failed midway).
    pub(super) async fn unlock_shard(&self, keyspace: &str, shard: &str, lock: &ReparentLock) {
        let res = self
            .writer
            .write("ReparentUnlock", &subjects::topo_shard(keyspace, shard), |topo| {
                match topo.shard(keyspace, shard).and_then(|s| s.reparent.as_ref()) {
                    Some(l) if l.id == lock.id => Ok(vec![TopoEvent::ShardReparentLocked {
                        keyspace: keyspace.to_string(),
                        shard: shard.to_string(),
                        lock: None,
                    }]),
                    _ => Ok(Vec::new()),
                }
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(keyspace, shard, error = %e, "could not release the reparent lock; it expires by itself");
        }
    }

    /// Names the new primary with the next term, if the shard is still under `lock`.
    pub(super) async fn record_primary(
        &self,
        keyspace: &str,
        shard: &str,
        lock: &ReparentLock,
        primary: &str,
    ) -> Result<(u64, u64), RemoteError> {
        let applied = self
            .writer
            .write("ShardPrimaryChanged", &subjects::topo_shard(keyspace, shard), |topo| {
                let s = topo
                    .shard(keyspace, shard)
                    .ok_or_else(|| TopoError::NotFound(format!("shard `{keyspace}/{shard}` vanished")))?;
                if s.reparent.as_ref().map(|l| &l.id) != Some(&lock.id) {
                    return Err(TopoError::FailedPrecondition(format!(
                        "{keyspace}/{shard} is no longer locked by this reparent ({}); another reparent took over",
                        lock.id
                    )));
                }
                Ok(vec![
                    TopoEvent::ShardPrimaryChanged {
                        keyspace: keyspace.to_string(),
                        shard: shard.to_string(),
                        primary: Some(primary.to_string()),
                        term: s.primary_term + 1,
                    },
                    TopoEvent::TabletTypeChanged { alias: primary.to_string(), tablet_type: TabletType::Primary },
                ])
            })
            .await
            .map_err(RemoteError::from)?;
        let term = applied
            .events
            .iter()
            .find_map(|e| match e {
                TopoEvent::ShardPrimaryChanged { term, .. } => Some(*term),
                _ => None,
            })
            .unwrap_or_default();
        Ok((applied.seq, term))
    }

    pub(super) async fn event(&self, name: &str, summary: String) {
        crate::reparent::publish_event(self.writer.store(), name, summary).await;
    }

    /// Points `others` at `primary`, each keeping its type; the failures, described.
    pub(super) async fn repoint(&self, policy: &str, primary: &TabletRecord, others: &[TabletRecord]) -> Vec<String> {
        let tc = match self.tablet_client() {
            Ok(tc) => tc,
            Err(e) => return vec![e.message],
        };
        let calls = others.iter().map(|t| {
            let tc = tc.clone();
            let req = ManageRequest::ReplicateFrom {
                host: host_of(primary),
                port: primary.mysql_port,
                tablet_type: t.tablet_type,
                semi_sync: acknowledges(policy, t.tablet_type, &t.cell, &primary.cell),
            };
            async move { (t.alias.clone(), tc.manage_within(&t.alias, &req, PROBE).await) }
        });
        futures::future::join_all(calls)
            .await
            .into_iter()
            .filter_map(|(alias, r)| r.err().map(|e| format!("{alias}: {e}")))
            .collect()
    }

    async fn planned(
        &self,
        keyspace: &str,
        shard: &str,
        new_primary: Option<&str>,
        avoid: Option<&str>,
        timeout: Duration,
    ) -> AdminReply {
        let tc = self.tablet_client()?;
        let topo = self.synced().await?;
        let (ks, s) = shard_of(&topo, keyspace, shard)?;
        let Some(old) = s.primary.clone().and_then(|p| topo.tablets.get(&p).cloned()) else {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!("{keyspace}/{shard} has no primary: run InitShardPrimary (or EmergencyReparentShard)"),
            ));
        };
        let tablets: Vec<TabletRecord> = topo.shard_tablets(keyspace, shard).cloned().collect();
        if let Some(w) = new_primary {
            if w == old.alias {
                return Ok(AdminResponse::Done {
                    message: format!("{w} is already the primary of {keyspace}/{shard}"),
                    seq: topo.seq,
                });
            }
            check_candidate(&tablets, w, keyspace, shard)?;
        }
        if avoid.is_some_and(|a| a != old.alias) && new_primary.is_none() {
            return Ok(AdminResponse::Done {
                message: format!(
                    "{} is the primary of {keyspace}/{shard}, not the tablet to avoid: nothing to do",
                    old.alias
                ),
                seq: topo.seq,
            });
        }
        // The candidates' state, to pick one and to refuse one that cannot catch up in time.
        let mut probed = Vec::new();
        for t in tablets.iter().filter(|t| t.tablet_type == TabletType::Replica && t.alias != old.alias) {
            if new_primary.is_some_and(|w| w != t.alias) || avoid == Some(t.alias.as_str()) {
                continue;
            }
            let status = tc.manage_within(&t.alias, &ManageRequest::Status, PROBE).await;
            probed.push((t.clone(), status.map_err(|e| e.to_string()).and_then(position_of)));
        }
        let mut problems = Vec::new();
        let mut usable: Vec<(TabletRecord, ReplicationStatus)> = Vec::new();
        for (t, status) in probed {
            match status {
                Err(e) => problems.push(format!("{} is unreachable: {e}", t.alias)),
                Ok(r) if !(r.io_running && r.sql_running) => problems.push(format!(
                    "{} is not replicating{}",
                    t.alias,
                    r.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                )),
                Ok(r) if r.lag_secs.unwrap_or(0) > timeout.as_secs() => problems.push(format!(
                    "{} lags {} s, more than --wait-replicas-timeout {} s",
                    t.alias,
                    r.lag_secs.unwrap_or(0),
                    timeout.as_secs()
                )),
                Ok(r) => usable.push((t, r)),
            }
        }
        // Least lag, then the old primary's cell, then the most applied.
        usable.sort_by(|(a, ra), (b, rb)| {
            (ra.lag_secs.unwrap_or(0), a.cell != old.cell, &a.alias).cmp(&(
                rb.lag_secs.unwrap_or(0),
                b.cell != old.cell,
                &b.alias,
            ))
        });
        let Some((candidate, _)) = usable.into_iter().next() else {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!(
                    "no replica of {keyspace}/{shard} can become primary: {}; nothing was changed",
                    problems.join("; ")
                ),
            ));
        };
        let policy = ks.durability_policy.clone();
        let (lock, term) = self.lock_shard(keyspace, shard, "PlannedReparentShard", timeout, None).await?;
        if crate::failpoint::armed("reparent-slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let started = Instant::now();
        self.event(
            "ReparentStarted",
            format!("PlannedReparentShard {keyspace}/{shard}: {} -> {} (lock {})", old.alias, candidate.alias, lock.id),
        )
        .await;
        let result =
            self.planned_steps(keyspace, shard, (&lock, term), &policy, &old, &candidate, &tablets, timeout).await;
        match result {
            Ok((seq, term, held_ms, failures)) => {
                let mut message = format!(
                    "{keyspace}/{shard}: {} is primary (term {term}); {} demoted; writes held {held_ms} ms; took {} ms",
                    candidate.alias,
                    old.alias,
                    started.elapsed().as_millis()
                );
                if !failures.is_empty() {
                    message.push_str(&format!(
                        "; these tablets could not be pointed at it: {} (run ReparentTablet on them)",
                        failures.join("; ")
                    ));
                }
                self.event("ReparentCompleted", format!("PlannedReparentShard {message}")).await;
                Ok(AdminResponse::Done { message, seq })
            }
            Err(e) => {
                self.unlock_shard(keyspace, shard, &lock).await;
                self.event("ReparentFailed", format!("PlannedReparentShard {keyspace}/{shard}: {}", e.message)).await;
                Err(e)
            }
        }
    }

    /// Demote, catch up, promote, record, repoint. On a failure before the new primary is
    /// recorded, the old primary is made writable again.
    #[allow(clippy::too_many_arguments)]
    async fn planned_steps(
        &self,
        keyspace: &str,
        shard: &str,
        (lock, term): (&ReparentLock, u64),
        policy: &str,
        old: &TabletRecord,
        candidate: &TabletRecord,
        tablets: &[TabletRecord],
        timeout: Duration,
    ) -> Result<(u64, u64, u128, Vec<String>), RemoteError> {
        let tc = self.tablet_client()?;
        let held = Instant::now();
        let demote = ManageRequest::DemotePrimary { drain_ms: DRAIN.as_millis() as u64 };
        let status = tc
            .manage_within(&old.alias, &demote, DRAIN + PROBE)
            .await
            .map_err(|e| e.to_string())
            .and_then(position_of)
            .map_err(|e| {
                err(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "the primary {} could not be demoted: {e}; nothing was changed (if it is gone, use EmergencyReparentShard)",
                        old.alias
                    ),
                )
            })?;
        let position = status.written();
        let wait =
            ManageRequest::WaitForPosition { position: position.clone(), timeout_ms: timeout.as_millis() as u64 };
        if let Err(e) = tc.manage_within(&candidate.alias, &wait, timeout + PROBE).await {
            return Err(self
                .undo_demote(old, format!("{} did not catch up with {position}: {e}", candidate.alias))
                .await);
        }
        let promote = ManageRequest::MakePrimary { semi_sync: primary_waits(policy), term };
        if let Err(e) = tc.manage_within(&candidate.alias, &promote, PROBE).await {
            let req = ManageRequest::ReplicateFrom {
                host: host_of(old),
                port: old.mysql_port,
                tablet_type: TabletType::Replica,
                semi_sync: acknowledges(policy, TabletType::Replica, &candidate.cell, &old.cell),
            };
            let _ = tc.manage_within(&candidate.alias, &req, PROBE).await;
            return Err(self.undo_demote(old, format!("{} could not be promoted: {e}", candidate.alias)).await);
        }
        let (seq, term) = match self.record_primary(keyspace, shard, lock, &candidate.alias).await {
            Ok(r) => r,
            Err(e) => {
                let req = ManageRequest::ReplicateFrom {
                    host: host_of(old),
                    port: old.mysql_port,
                    tablet_type: TabletType::Replica,
                    semi_sync: false,
                };
                let _ = tc.manage_within(&candidate.alias, &req, PROBE).await;
                return Err(self
                    .undo_demote(old, format!("the new primary could not be recorded: {}", e.message))
                    .await);
            }
        };
        let held_ms = held.elapsed().as_millis();
        let others: Vec<TabletRecord> = tablets
            .iter()
            .filter(|t| t.alias != old.alias && t.alias != candidate.alias && follows_primary(t))
            .cloned()
            .collect();
        let failures = self.repoint(policy, candidate, &others).await;
        // The old primary rejoins by itself when its view shows the new term; wait a little
        // so the answer can say whether it did.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut failures = failures;
        loop {
            let t = self.writer.view().snapshot().tablets.get(&old.alias).map(|t| t.tablet_type);
            if t != Some(TabletType::Primary) {
                break;
            }
            if Instant::now() > deadline {
                failures.push(format!(
                    "{}: has not rejoined as a replica yet (see `tessera events --filter recovery`)",
                    old.alias
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok((seq, term, held_ms, failures))
    }

    /// Makes the demoted primary writable again; the error to answer, saying whether it is.
    async fn undo_demote(&self, old: &TabletRecord, why: String) -> RemoteError {
        let back = match self.tablet_client() {
            Ok(tc) => tc.manage_within(&old.alias, &ManageRequest::UndoDemotePrimary, PROBE).await.map(|_| ()),
            Err(e) => Err(TabletError::Internal(e.message)),
        };
        let undone = match back {
            Ok(()) => format!("{} is primary and writable again", old.alias),
            Err(e) => format!("{} could not be made writable again ({e}): run PlannedReparentShard again", old.alias),
        };
        err(ErrorCode::FailedPrecondition, format!("{why}; {undone}"))
    }
}
