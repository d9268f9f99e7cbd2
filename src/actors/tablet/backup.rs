//! Backups and restores of a tablet: the backup job it hands to [`crate::backup::take`], the
//! restore that replaces its data, and replication from the backup's position afterwards.

use actix::prelude::*;
use tracing::{info, warn};

use super::TabletActor;
use crate::protocol::tablet::{ManageReply, ManageResponse, TabletError};
use crate::protocol::topology::TabletType;

impl TabletActor {
    /// Restores this tablet from a backup of its shard (see [`crate::backup::restore`]); the
    /// tablet stops serving, mysqld restarts on the backup's data, and it replicates from the
    /// backup's position.
    pub(super) fn restore(
        &mut self,
        name: Option<String>,
        current: TabletType,
    ) -> ResponseActFuture<Self, ManageReply> {
        let alias = self.cfg.alias.clone();
        let prepared = (|| {
            if current == TabletType::Primary {
                return Err(format!("{alias} is the primary: restore a replica or rdonly tablet"));
            }
            if self.restoring {
                return Err(format!("{alias} is already restoring"));
            }
            let mysqld = self.mysqld.clone().ok_or_else(|| {
                format!("{alias} runs on an external MySQL that tessera does not manage: restore it there")
            })?;
            let storage = self.cfg.backup.clone().ok_or("this tablet's node has no backup storage")??;
            let manifest = crate::backup::choose(&storage, &self.cfg.keyspace, &self.cfg.shard, name.as_deref())?;
            Ok((mysqld, storage, manifest))
        })();
        let (mysqld, storage, manifest) = match prepared {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { Err(TabletError::BadRequest(e)) }.into_actor(self)),
        };
        self.restoring = true;
        self.not_serving(&format!("restoring from backup {}", manifest.name));
        let fut = async move { crate::backup::restore(&storage, &manifest, &mysqld).await.map(|()| manifest) };
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            act.restoring = false;
            act.mysqld_up = false;
            act.connected = false;
            act.busy = false;
            let reply = match res {
                Ok(m) => {
                    act.restore_position = Some(m.position.clone());
                    act.data_incomplete = None;
                    Ok(ManageResponse::Done {
                        message: format!("{alias} restored from backup {} at {}; catching up", m.name, m.position),
                    })
                }
                Err(e) => {
                    if let crate::backup::RestoreError::DataLost(_) = &e {
                        act.data_incomplete = Some(format!("restore of {alias} failed midway: {e}"));
                    }
                    Err(TabletError::Internal(format!("restore of {alias} failed: {e}")))
                }
            };
            act.boot(ctx);
            act.publish_health(ctx);
            reply
        }))
    }

    /// What a backup of this tablet needs, or why it cannot be taken here.
    pub(super) fn backup_job(&self, engine: String, concurrency: usize) -> Result<crate::backup::BackupJob, String> {
        let storage = self.cfg.backup.clone().ok_or("this tablet's node has no backup storage")??;
        let (user, password) = self.cfg.admin_login();
        Ok(crate::backup::BackupJob {
            storage,
            keyspace: self.cfg.keyspace.clone(),
            shard: self.cfg.shard.clone(),
            alias: self.cfg.alias.clone(),
            engine,
            host: self.cfg.mysql_host.clone().unwrap_or_else(|| "127.0.0.1".into()),
            port: self.cfg.port(),
            user,
            password,
            concurrency,
            topology_seq: self.writer.view().seq(),
            mariadb_version: self.server.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
        })
    }
}

impl TabletActor {
    /// After a restore: replicate from the shard's primary, starting at the backup's position.
    pub(super) fn resume_after_restore(&mut self, ctx: &mut Context<Self>, position: String) {
        let topo = self.writer.view().snapshot();
        let primary = topo
            .shard(&self.cfg.keyspace, &self.cfg.shard)
            .and_then(|s| s.primary.clone())
            .and_then(|p| topo.tablets.get(&p).cloned())
            .filter(|p| p.alias != self.cfg.alias);
        let service = self.service.clone();
        let (user, password) = self.cfg.replication_login();
        let alias = self.cfg.alias.clone();
        let fut = async move {
            let mut conn = service.dba_conn().await.map_err(|e| e.to_string())?;
            for sql in [
                "STOP SLAVE".to_string(),
                "RESET SLAVE ALL".into(),
                format!("SET GLOBAL gtid_slave_pos = {}", crate::sql::quote_bytes(position.as_bytes())),
            ] {
                super::dbconn::exec(&mut conn, &sql).await.map_err(|e| format!("{sql}: {e}"))?;
            }
            match primary {
                Some(p) => {
                    let host = if p.mysql_host.is_empty() { "127.0.0.1".to_string() } else { p.mysql_host.clone() };
                    super::manage::replicate_from(&mut conn, &host, p.mysql_port, &user, &password)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(format!("replicating from {} at {position}", p.alias))
                }
                None => Ok(format!("restored at {position}; the shard has no primary to replicate from yet")),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(m) => info!(tablet = %alias, "{m}"),
                Err(e) => {
                    warn!(tablet = %alias, error = %e, "cannot replicate after the restore");
                    act.last_error = Some(format!("after the restore: {e}"));
                }
            }
            act.publish_health(ctx);
        }));
    }
}
