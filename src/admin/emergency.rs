//! `EmergencyReparentShard`: replaces a primary that is gone by the most advanced replica.

use std::time::{Duration, Instant};

use super::reparent::{check_candidate, err, follows_primary, position_of, shard_of, PROBE};
use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminResponse, ErrorCode};
use crate::protocol::tablet::{ManageRequest, TabletError};
use crate::protocol::topology::{TabletRecord, TabletType};
use crate::reparent::{most_advanced, primary_waits, Candidate};

impl AdminService {
    pub(super) async fn emergency(
        &self,
        keyspace: &str,
        shard: &str,
        new_primary: Option<&str>,
        timeout: Duration,
        expected_term: Option<u64>,
    ) -> AdminReply {
        let tc = self.tablet_client()?;
        let topo = self.synced().await?;
        let (ks, s) = shard_of(&topo, keyspace, shard)?;
        let old = s.primary.clone().and_then(|p| topo.tablets.get(&p).cloned());
        let old_alias = old.as_ref().map(|o| o.alias.clone()).unwrap_or_default();
        let tablets: Vec<TabletRecord> = topo
            .shard_tablets(keyspace, shard)
            .filter(|t| t.alias != old_alias && follows_primary(t))
            .cloned()
            .collect();
        if let Some(w) = new_primary {
            check_candidate(&tablets, w, keyspace, shard)?;
        }
        let policy = ks.durability_policy.clone();
        let (lock, term) = self.lock_shard(keyspace, shard, "EmergencyReparentShard", timeout, expected_term).await?;
        let started = Instant::now();
        self.event(
            "ReparentStarted",
            format!(
                "EmergencyReparentShard {keyspace}/{shard}: replacing {} (lock {})",
                if old_alias.is_empty() { "no primary" } else { &old_alias },
                lock.id
            ),
        )
        .await;
        // A primary that still answers (an emergency reparent of a live primary) is made
        // read-only first, and the replicas get what it wrote before they stop.
        if let Some(o) = &old {
            let demote = ManageRequest::DemotePrimary { drain_ms: 0 };
            if let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(2), tc.manage_within(&o.alias, &demote, PROBE))
                    .await
                    .map(|r| r.map_err(|e| e.to_string()).and_then(position_of))
            {
                let position = status.written();
                let wait = ManageRequest::WaitForPosition { position, timeout_ms: timeout.as_millis() as u64 };
                let waits = tablets.iter().map(|t| {
                    let (tc, wait) = (tc.clone(), wait.clone());
                    async move { tc.manage_within(&t.alias, &wait, timeout + PROBE).await }
                });
                futures::future::join_all(waits).await;
            }
        }
        // Every reachable tablet stops replicating and applies what it received.
        let stop = ManageRequest::StopReplicationAndGetStatus { wait_ms: timeout.as_millis() as u64 };
        let calls = tablets.iter().map(|t| {
            let (tc, stop) = (tc.clone(), stop.clone());
            async move { (t.clone(), tc.manage_within(&t.alias, &stop, timeout + PROBE).await) }
        });
        let mut candidates = Vec::new();
        let mut others = Vec::new();
        let mut reached = Vec::new();
        let mut unreachable = Vec::new();
        for (t, r) in futures::future::join_all(calls).await {
            match r.map_err(|e: TabletError| e.to_string()).and_then(position_of) {
                Ok(status) => {
                    let c = Candidate { alias: t.alias.clone(), cell: t.cell.clone(), position: status.position };
                    if t.tablet_type == TabletType::Replica {
                        candidates.push(c);
                    } else {
                        others.push(c);
                    }
                    reached.push(t);
                }
                Err(e) => unreachable.push(format!("{}: {e}", t.alias)),
            }
        }
        let prefer_cell = old.as_ref().map(|o| o.cell.clone()).unwrap_or_default();
        let chosen = match most_advanced(&candidates, &others, new_primary, &prefer_cell) {
            Ok(c) => c.alias.clone(),
            Err(why) => {
                let restart = self.restart_replication(&reached).await;
                self.unlock_shard(keyspace, shard, &lock).await;
                let message = format!(
                    "{keyspace}/{shard}: {why}{}; nothing was promoted{restart}",
                    if unreachable.is_empty() {
                        String::new()
                    } else {
                        format!(" (unreachable: {})", unreachable.join("; "))
                    }
                );
                self.event("ReparentFailed", format!("EmergencyReparentShard {message}")).await;
                return Err(err(ErrorCode::FailedPrecondition, message));
            }
        };
        let Some(candidate) = reached.iter().find(|t| t.alias == chosen).cloned() else {
            self.unlock_shard(keyspace, shard, &lock).await;
            return Err(err(ErrorCode::Internal, format!("{chosen} vanished from the reachable tablets")));
        };
        let promote = ManageRequest::MakePrimary { semi_sync: primary_waits(&policy), term };
        if let Err(e) = tc.manage_within(&candidate.alias, &promote, PROBE).await {
            let restart = self.restart_replication(&reached).await;
            self.unlock_shard(keyspace, shard, &lock).await;
            let message = format!("{keyspace}/{shard}: {} could not be promoted: {e}{restart}", candidate.alias);
            self.event("ReparentFailed", format!("EmergencyReparentShard {message}")).await;
            return Err(err(ErrorCode::FailedPrecondition, message));
        }
        let (seq, term) = match self.record_primary(keyspace, shard, &lock, &candidate.alias).await {
            Ok(r) => r,
            Err(e) => {
                self.event("ReparentFailed", format!("EmergencyReparentShard {keyspace}/{shard}: {}", e.message)).await;
                return Err(e);
            }
        };
        let others: Vec<TabletRecord> = reached.iter().filter(|t| t.alias != candidate.alias).cloned().collect();
        let mut failures = self.repoint(&policy, &candidate, &others).await;
        failures.extend(unreachable.iter().map(|u| format!("{u} (repoint it with ReparentTablet when it is back)")));
        let mut message = format!(
            "{keyspace}/{shard}: {} is primary (term {term}), replacing {}; took {} ms",
            candidate.alias,
            if old_alias.is_empty() { "no primary" } else { &old_alias },
            started.elapsed().as_millis()
        );
        if !failures.is_empty() {
            message.push_str(&format!("; not repointed: {}", failures.join("; ")));
        }
        self.event("ReparentCompleted", format!("EmergencyReparentShard {message}")).await;
        Ok(AdminResponse::Done { message, seq })
    }

    /// After an emergency reparent that promoted nobody: replication again where it stopped.
    pub(super) async fn restart_replication(&self, tablets: &[TabletRecord]) -> String {
        let Ok(tc) = self.tablet_client() else { return String::new() };
        let mut failed = Vec::new();
        for t in tablets {
            if let Err(e) = tc.manage_within(&t.alias, &ManageRequest::StartReplication, PROBE).await {
                failed.push(format!("{}: {e}", t.alias));
            }
        }
        if failed.is_empty() {
            "; replication restarted where it stopped".into()
        } else {
            format!("; replication could not be restarted on {}", failed.join("; "))
        }
    }
}
