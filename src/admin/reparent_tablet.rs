//! Reparent commands on one tablet: `ReparentTablet`, `TabletExternallyReparented`,
//! `SetWritable`.

use super::reparent::{err, PROBE};
use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminResponse, ErrorCode};
use crate::protocol::tablet::ManageRequest;
use crate::protocol::topology::TabletType;
use crate::reparent::primary_waits;

impl AdminService {
    pub(super) async fn reparent_tablet(&self, alias: &str) -> AdminReply {
        let topo = self.synced().await?;
        let t = super::tablets::record(&topo, alias)?.clone();
        let shard = topo.shard(&t.keyspace, &t.shard);
        let primary =
            shard.and_then(|s| s.primary.clone()).and_then(|p| topo.tablets.get(&p).cloned()).ok_or_else(|| {
                err(
                    ErrorCode::FailedPrecondition,
                    format!("{}/{} has no primary to replicate from", t.keyspace, t.shard),
                )
            })?;
        if primary.alias == alias || t.tablet_type == TabletType::Primary {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!(
                    "{alias} is {}: ReparentTablet points replicas and rdonly tablets at their primary",
                    t.tablet_type
                ),
            ));
        }
        let policy = topo.keyspaces.get(&t.keyspace).map(|k| k.durability_policy.clone()).unwrap_or_default();
        let failures = self.repoint(&policy, &primary, std::slice::from_ref(&t)).await;
        if let Some(f) = failures.first() {
            return Err(err(ErrorCode::FailedPrecondition, f.clone()));
        }
        Ok(AdminResponse::Done { message: format!("{alias} replicates from {}", primary.alias), seq: topo.seq })
    }

    pub(super) async fn externally_reparented(&self, alias: &str) -> AdminReply {
        let tc = self.tablet_client()?;
        let topo = self.synced().await?;
        let t = super::tablets::record(&topo, alias)?.clone();
        let (keyspace, shard) = (t.keyspace.clone(), t.shard.clone());
        if topo.shard(&keyspace, &shard).and_then(|s| s.primary.as_deref()) == Some(alias) {
            return Ok(AdminResponse::Done {
                message: format!("{alias} is already the primary of {keyspace}/{shard}"),
                seq: topo.seq,
            });
        }
        let policy = topo.keyspaces.get(&keyspace).map(|k| k.durability_policy.clone()).unwrap_or_default();
        let (lock, term) = self.lock_shard(&keyspace, &shard, "TabletExternallyReparented", PROBE, None).await?;
        let promote = ManageRequest::MakePrimary { semi_sync: primary_waits(&policy), term };
        if let Err(e) = tc.manage_within(alias, &promote, PROBE).await {
            self.unlock_shard(&keyspace, &shard, &lock).await;
            return Err(err(ErrorCode::FailedPrecondition, format!("{alias} could not be opened for writes: {e}")));
        }
        let (seq, term) = self.record_primary(&keyspace, &shard, &lock, alias).await?;
        let message = format!("{alias} is primary of {keyspace}/{shard} (term {term}), reparented externally");
        self.event("ReparentCompleted", format!("TabletExternallyReparented {message}")).await;
        Ok(AdminResponse::Done { message, seq })
    }

    pub(super) async fn set_writable(&self, alias: &str, writable: bool) -> AdminReply {
        let tc = self.tablet_client()?;
        let topo = self.synced().await?;
        let t = super::tablets::record(&topo, alias)?;
        if writable && topo.shard(&t.keyspace, &t.shard).and_then(|s| s.primary.as_deref()) != Some(alias) {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!("{alias} is not its shard's primary: only the primary may be writable"),
            ));
        }
        let sql = format!("SET GLOBAL read_only = {}", if writable { "OFF" } else { "ON" });
        tc.manage_within(alias, &ManageRequest::ExecuteFetchAsDba { sql, max_rows: None }, PROBE)
            .await
            .map_err(|e| err(ErrorCode::FailedPrecondition, format!("tablet {alias}: {e}")))?;
        Ok(AdminResponse::Done {
            message: format!("{alias} is {}", if writable { "writable" } else { "read-only" }),
            seq: topo.seq,
        })
    }
}
