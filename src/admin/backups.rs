//! Backup commands: `Backup`, `BackupShard`, `GetBackups`, `RemoveBackup`. The tablet's node
//! takes the backup (it runs `mariadb-backup` against its own MariaDB); listing and removing
//! read the storage this node is configured with (the same for every node: a shared
//! directory).

use std::time::Duration;

use super::AdminService;
use crate::backup::{BackupKey, BackupStorage};
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError};
use crate::protocol::names::normalize_tablet_alias;
use crate::protocol::tablet::{ManageRequest, ManageResponse};
use crate::protocol::topology::TabletType;

/// A tablet silent this long is taken for gone.
const SILENT_AFTER: Duration = Duration::from_secs(20);

/// Longest a backup may run before the command stops waiting for it.
const BACKUP_WAIT: Duration = Duration::from_secs(6 * 3600);

fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

impl AdminService {
    fn backup_storage(&self) -> Result<&crate::backup::SharedStorage, RemoteError> {
        match &self.backups {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(err(ErrorCode::FailedPrecondition, e.clone())),
            None => Err(err(ErrorCode::Unavailable, "this process has no backup storage")),
        }
    }

    /// The normalised alias of a tablet in the topology, with the topology it was found in.
    async fn known_tablet(
        &self,
        alias: &str,
    ) -> Result<(String, std::sync::Arc<crate::topo::state::Topology>), RemoteError> {
        let alias = normalize_tablet_alias(alias).map_err(|e| err(ErrorCode::InvalidArgument, e))?;
        let topo = self.synced().await?;
        if !topo.tablets.contains_key(&alias) {
            return Err(err(
                ErrorCode::NotFound,
                format!("tablet `{alias}` is not in the topology (GetTablets lists them)"),
            ));
        }
        Ok((alias, topo))
    }

    pub(super) async fn backup_command(&self, req: AdminRequest) -> AdminReply {
        match req {
            AdminRequest::Backup { alias, engine, concurrency, allow_primary } => {
                let (alias, _) = self.known_tablet(&alias).await?;
                self.backup_tablet(&alias, engine, concurrency, allow_primary).await
            }
            AdminRequest::BackupShard { keyspace, shard, engine, concurrency, allow_primary } => {
                let topo = self.synced().await?;
                topo.shard(&keyspace, &shard)
                    .ok_or_else(|| err(ErrorCode::NotFound, format!("shard {keyspace}/{shard} does not exist")))?;
                let health = match &self.health {
                    Some(h) => h.send(crate::actors::health::GetHealth).await.unwrap_or_default(),
                    None => Default::default(),
                };
                let serving = |alias: &str| health.get(alias).is_some_and(|h| h.serving);
                if engine == crate::backup::pitr::BINLOG_ENGINE {
                    // Binlogs are saved from the primary: it has every transaction.
                    let primary = topo.shard(&keyspace, &shard).and_then(|s| s.primary.clone()).ok_or_else(|| {
                        err(
                            ErrorCode::FailedPrecondition,
                            format!("{keyspace}/{shard} has no primary to save binlogs from"),
                        )
                    })?;
                    return self.backup_tablet(&primary, engine, concurrency, true).await;
                }
                // A serving replica, then rdonly, least behind first; the primary only if allowed.
                let mut candidates: Vec<(u8, u64, String)> = topo
                    .shard_tablets(&keyspace, &shard)
                    .filter(|t| serving(&t.alias))
                    .filter_map(|t| {
                        let rank = match t.tablet_type {
                            TabletType::Replica => 0,
                            TabletType::Rdonly => 1,
                            TabletType::Primary if allow_primary => 2,
                            _ => return None,
                        };
                        let lag = health.get(&t.alias).and_then(|h| h.replication.as_ref()?.lag_secs).unwrap_or(0);
                        Some((rank, lag, t.alias.clone()))
                    })
                    .collect();
                candidates.sort();
                let Some((_, _, alias)) = candidates.into_iter().next() else {
                    return Err(err(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "no serving replica or rdonly tablet in {keyspace}/{shard} to back up{}",
                            if allow_primary { "" } else { " (pass --allow-primary to use the primary)" }
                        ),
                    ));
                };
                self.backup_tablet(&alias, engine, concurrency, allow_primary).await
            }
            AdminRequest::GetBackups { keyspace, shard, limit } => {
                let mut backups =
                    self.backup_storage()?.list(&keyspace, &shard).await.map_err(|e| err(ErrorCode::Unavailable, e))?;
                if let Some(n) = limit {
                    backups.truncate(n);
                }
                Ok(AdminResponse::Backups { keyspace, shard, backups })
            }
            AdminRequest::RemoveBackup { keyspace, shard, name } => {
                let key = BackupKey::new(&keyspace, &shard, &name).map_err(|e| err(ErrorCode::InvalidArgument, e))?;
                self.backup_storage()?.remove(&key).await.map_err(|e| err(ErrorCode::NotFound, e))?;
                Ok(AdminResponse::Done { message: format!("backup {name} of {keyspace}/{shard} removed"), seq: 0 })
            }
            AdminRequest::RestoreFromBackup { alias, backup_name, restore_to } => {
                let (alias, topo) = self.known_tablet(&alias).await?;
                let tc = self.tablet_client()?;
                let pitr = restore_to.is_some();
                let req = ManageRequest::Restore { name: backup_name, to: restore_to };
                match self.while_alive(&alias, tc.manage_within(&alias, &req, BACKUP_WAIT)).await? {
                    // A point-in-time copy is not the shard's present: recorded drained, it
                    // takes no queries until an operator changes its type.
                    Ok(ManageResponse::Done { message }) if pitr => {
                        let seq = self.record_type(&alias, TabletType::Drained).await?;
                        Ok(AdminResponse::Done { message: format!("{message}; {alias} is drained"), seq })
                    }
                    Ok(ManageResponse::Done { message }) => Ok(AdminResponse::Done { message, seq: topo.seq }),
                    Ok(other) => {
                        Err(err(ErrorCode::Internal, format!("tablet {alias} answered a restore with {other:?}")))
                    }
                    Err(e) => Err(err(ErrorCode::FailedPrecondition, format!("restore of tablet {alias} failed: {e}"))),
                }
            }
            other => Err(err(ErrorCode::Internal, format!("{} is not a backup command", other.name()))),
        }
    }

    async fn backup_tablet(&self, alias: &str, engine: String, concurrency: usize, allow_primary: bool) -> AdminReply {
        let tc = self.tablet_client()?;
        let req = ManageRequest::Backup { engine, concurrency, allow_primary };
        match self.while_alive(alias, tc.manage_within(alias, &req, BACKUP_WAIT)).await? {
            Ok(ManageResponse::Backup { manifest }) => Ok(AdminResponse::Backup { manifest }),
            Ok(other) => Err(err(ErrorCode::Internal, format!("tablet {alias} answered a backup with {other:?}"))),
            Err(e) => Err(err(ErrorCode::FailedPrecondition, format!("backup of tablet {alias} failed: {e}"))),
        }
    }

    /// Waits for a long tablet operation, but not for a tablet that stopped reporting health
    /// (its node died): that ends with an error instead of hours of waiting.
    async fn while_alive<T>(&self, alias: &str, op: impl std::future::Future<Output = T>) -> Result<T, RemoteError> {
        let Some(health) = self.health.clone() else { return Ok(op.await) };
        let silent = async {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let latest = health.send(crate::actors::health::GetHealth).await.unwrap_or_default();
                let last = latest.get(alias).map_or(0, |h| h.time_ms);
                if crate::protocol::envelope::now_ms().saturating_sub(last) > SILENT_AFTER.as_millis() as u64 {
                    return;
                }
            }
        };
        tokio::select! {
            out = op => Ok(out),
            () = silent => Err(err(
                ErrorCode::Unavailable,
                format!(
                    "tablet {alias} stopped reporting health for {} s while working (its node died?); a backup it was taking is partial (GetBackups, RemoveBackup)",
                    SILENT_AFTER.as_secs()
                ),
            )),
        }
    }
}
