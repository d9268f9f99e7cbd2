//! Backups and restores of a tablet: the backup job it hands to [`crate::backup::take`], the
//! restore that replaces its data, and replication from the backup's position afterwards.

use actix::prelude::*;
use tracing::{info, warn};

use super::TabletActor;
use crate::backup::pitr::{self, PitrTarget};
use crate::protocol::tablet::{ManageReply, ManageResponse, TabletError};
use crate::protocol::topology::TabletType;

use crate::backup::publish_event as backup_event;

/// Publishes progress as `name` events: at most one a second, and the last one always.
fn progress_sink(store: crate::topo::store::TopoStore, name: &'static str) -> crate::backup::ProgressSink {
    let last: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    crate::backup::ProgressSink::new(move |p| {
        let finished = p.files_done == p.files_total;
        {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if !finished && last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let ev = crate::protocol::events::ClusterEvent::backup_progress(name, p);
        let store = store.clone();
        tokio::spawn(async move {
            let id = uuid::Uuid::new_v4().simple().to_string();
            if let Err(e) = store.publish_event(&ev, &id).await {
                tracing::debug!(error = %e, "could not publish a progress event");
            }
        });
    })
}

fn completed(what: &str, m: &crate::backup::Manifest) -> String {
    format!(
        "{what} complete: {} ({} files, {} bytes, {} stored, position {})",
        m.name,
        m.files.len(),
        m.size(),
        m.stored_size(),
        m.position
    )
}

impl TabletActor {
    /// Takes a backup of this tablet: online with `mariabackup`, or with `builtin` by stopping
    /// mysqld for the copy (the tablet stops serving, turns BACKUP, and catches up afterwards).
    pub(super) fn backup(
        &mut self,
        engine: String,
        concurrency: usize,
        allow_primary: bool,
        current: TabletType,
    ) -> ResponseActFuture<Self, ManageReply> {
        let alias = self.cfg.alias.clone();
        let incremental = engine == pitr::BINLOG_ENGINE;
        let job = (|| {
            // Saving binlogs copies closed files only: the primary's, usually.
            if current == TabletType::Primary && !allow_primary && !incremental {
                return Err(format!(
                    "{alias} is the primary: back up a replica (BackupShard picks one) or pass --allow-primary"
                ));
            }
            if let Some(what) = &self.offline {
                return Err(format!("{alias} is busy: {what}"));
            }
            self.backup_job(engine, concurrency)
        })();
        let job = match job {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(TabletError::BadRequest(e)) }.into_actor(self)),
        };
        if job.engine == "builtin" {
            return self.builtin_backup(job, current);
        }
        if incremental {
            return self.binlog_backup(job);
        }
        let store = self.writer.store().clone();
        let fut = async move {
            let what = format!("backup of {} ({}/{}, {})", job.alias, job.keyspace, job.shard, job.engine);
            backup_event(store.clone(), "BackupStarted", format!("{what} started")).await;
            match crate::backup::take(job).await {
                Ok(m) => {
                    backup_event(store, "BackupCompleted", completed(&what, &m)).await;
                    Ok(ManageResponse::Backup { manifest: Box::new(m) })
                }
                Err(e) => {
                    backup_event(store, "BackupFailed", format!("{what} failed: {e}")).await;
                    Err(TabletError::Internal(format!("{what} failed: {e}")))
                }
            }
        };
        Box::pin(fut.into_actor(self))
    }

    /// The builtin engine: stop replication and record the position, shut mysqld down cleanly,
    /// copy its files, start it again. Whatever the copy does, the tablet returns to its type and
    /// serves once it has caught up.
    fn builtin_backup(
        &mut self,
        job: crate::backup::BackupJob,
        current: TabletType,
    ) -> ResponseActFuture<Self, ManageReply> {
        let Some(mysqld) = self.mysqld.clone() else {
            let e = format!(
                "{} runs on an external MySQL that tessera does not manage: the builtin engine needs to stop it; use mariabackup",
                self.cfg.alias
            );
            return Box::pin(async move { Err(TabletError::BadRequest(e)) }.into_actor(self));
        };
        let what = format!("backup of {} ({}/{}, builtin)", job.alias, job.keyspace, job.shard);
        self.offline = Some(what.clone());
        self.not_serving(&format!("{what} in progress"));
        self.set_type_locally(TabletType::Backup);
        let service = self.service.clone();
        let store = self.writer.store().clone();
        let fut = async move {
            backup_event(store.clone(), "BackupStarted", format!("{what} started")).await;
            let stopped = async {
                let mut conn = service.dba_conn().await.map_err(|e| e.to_string())?;
                if current != TabletType::Primary {
                    super::dbconn::exec(&mut conn, "STOP SLAVE").await.map_err(|e| format!("STOP SLAVE: {e}"))?;
                }
                let row = super::dbconn::first_row(&mut conn, "SELECT @@GLOBAL.gtid_current_pos AS pos")
                    .await
                    .map_err(|e| format!("reading the GTID position: {e}"))?;
                let position = row.and_then(|r| r.into_iter().next()?.1).unwrap_or_default();
                drop(conn);
                mysqld.stop(std::time::Duration::from_secs(300)).await;
                Ok::<_, String>(position)
            }
            .await;
            let res = match stopped {
                Ok(position) => crate::backup::take_stopped(job, &mysqld.dir.join("data"), position).await,
                Err(e) => Err(e),
            };
            match &res {
                Ok(m) => backup_event(store, "BackupCompleted", completed(&what, m)).await,
                Err(e) => backup_event(store, "BackupFailed", format!("{what} failed: {e}")).await,
            }
            res.map_err(|e| TabletError::Internal(format!("{what} failed: {e}")))
        };
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            act.offline = None;
            act.mysqld_up = false;
            act.connected = false;
            act.busy = false;
            act.set_type_locally(current);
            act.catching_up = current != TabletType::Primary;
            act.resume_replication = current != TabletType::Primary;
            act.boot(ctx);
            act.publish_health(ctx);
            res.map(|m| ManageResponse::Backup { manifest: Box::new(m) })
        }))
    }

    /// Restores this tablet from a backup of its shard (see [`crate::backup::restore`]); the
    /// tablet turns RESTORE, mysqld restarts on the backup's data, and it replicates from the
    /// backup's position and serves once caught up.
    pub(super) fn restore(
        &mut self,
        name: Option<String>,
        to: Option<PitrTarget>,
        current: TabletType,
    ) -> ResponseActFuture<Self, ManageReply> {
        let alias = self.cfg.alias.clone();
        let prepared = (|| {
            if current == TabletType::Primary {
                return Err(format!("{alias} is the primary: restore a replica or rdonly tablet"));
            }
            if let Some(what) = &self.offline {
                return Err(format!("{alias} is busy: {what}"));
            }
            let mysqld = self.mysqld.clone().ok_or_else(|| {
                format!("{alias} runs on an external MySQL that tessera does not manage: restore it there")
            })?;
            let storage = self.cfg.backup.clone().ok_or("this tablet's node has no backup storage")??;
            Ok((mysqld, storage))
        })();
        let (mysqld, storage) = match prepared {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { Err(TabletError::BadRequest(e)) }.into_actor(self)),
        };
        let (ks, shard) = (self.cfg.keyspace.clone(), self.cfg.shard.clone());
        self.offline = Some(format!("restoring {alias} from backup"));
        let (user, password) = self.cfg.admin_login();
        let login = pitr::Login { host: "127.0.0.1".into(), port: self.cfg.port(), user, password };
        let chosen = async move {
            let chosen = match to {
                None => crate::backup::choose(&storage, &ks, &shard, name.as_deref()).await.map(|m| (m, None)),
                Some(t) => pitr::plan(&storage, &ks, &shard, t).await.map(|p| (p.full.clone(), Some(p))),
            };
            chosen.map(|(m, plan)| (m, plan, storage))
        };
        Box::pin(chosen.into_actor(self).then(move |chosen, act, _ctx| {
            let (manifest, plan, storage) = match chosen {
                Ok(c) => c,
                Err(e) => {
                    act.offline = None;
                    let refused: ResponseActFuture<Self, ManageReply> =
                        Box::pin(actix::fut::ready(Err(TabletError::BadRequest(e))));
                    return refused;
                }
            };
            act.not_serving(&format!("restoring from backup {}", manifest.name));
            act.set_type_locally(TabletType::Restore);
            let store = act.writer.store().clone();
            let what = match &plan {
                None => format!("restore of {alias} from backup {}", manifest.name),
                Some(p) => format!(
                    "restore of {alias} to {} (backup {} and {} binlog backups)",
                    p.target,
                    manifest.name,
                    p.binlogs.len()
                ),
            };
            let pitr = plan.is_some();
            let progress = act.restore_progress();
            let fut = async move {
                backup_event(store.clone(), "RestoreStarted", format!("{what} started")).await;
                let progress = Some((&progress.0, progress.1.clone()));
                let mut res = crate::backup::restore(&storage, &manifest, &mysqld, progress).await;
                if let (Ok(()), Some(plan)) = (&res, &plan) {
                    res = pitr::replay_into(&storage, plan, &mysqld, &login)
                        .await
                        .map_err(|e| crate::backup::RestoreError::DataLost(format!("replaying binlogs: {e}")));
                }
                match &res {
                    Ok(()) => {
                        let at = plan.as_ref().map_or(manifest.position.clone(), |p| p.target.to_string());
                        backup_event(store, "RestoreCompleted", format!("{what} complete at {at}")).await
                    }
                    Err(e) => backup_event(store, "RestoreFailed", format!("{what} failed: {e}")).await,
                }
                res.map(|()| (manifest, what))
            };
            Box::pin(fut.into_actor(act).map(move |res, act, ctx| {
                act.offline = None;
                act.mysqld_up = false;
                act.connected = false;
                act.busy = false;
                act.set_type_locally(current);
                let reply = match res {
                    Ok((_, what)) if pitr => {
                        // A copy of the past: no replication, no serving but as drained.
                        act.set_type_locally(TabletType::Drained);
                        act.data_incomplete = None;
                        Ok(ManageResponse::Done { message: format!("{what} complete") })
                    }
                    Ok((m, _)) => {
                        act.restore_position = Some(m.position.clone());
                        act.catching_up = true;
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
        }))
    }

    /// What a backup of this tablet needs, or why it cannot be taken here.
    pub(super) fn backup_job(&self, engine: String, concurrency: usize) -> Result<crate::backup::BackupJob, String> {
        if !matches!(engine.as_str(), "mariabackup" | "builtin" | pitr::BINLOG_ENGINE) {
            return Err(format!(
                "backup engine `{engine}` is unknown: use mariabackup (the default), builtin, or --incremental"
            ));
        }
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
            progress: Some(progress_sink(self.writer.store().clone(), "BackupProgress")),
        })
    }

    /// What a restore of this tablet reports its progress with.
    pub(super) fn restore_progress(&self) -> (crate::backup::ProgressSink, crate::backup::Progress) {
        let p = crate::backup::Progress {
            alias: self.cfg.alias.clone(),
            keyspace: self.cfg.keyspace.clone(),
            shard: self.cfg.shard.clone(),
            ..Default::default()
        };
        (progress_sink(self.writer.store().clone(), "RestoreProgress"), p)
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
        let ack = primary
            .as_ref()
            .is_some_and(|p| self.state.fence.acknowledges(self.state.tablet_type(), self.cfg.cell(), &p.cell));
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
                    super::manage::replicate_from(&mut conn, &host, p.mysql_port, (&user, &password), false, ack)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((true, format!("replicating from {} at {position}", p.alias)))
                }
                None => Ok((false, format!("restored at {position}; the shard has no primary to replicate from yet"))),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok((replicating, m)) => {
                    info!(tablet = %alias, "{m}");
                    if !replicating {
                        // Nothing to catch up with.
                        act.catching_up = false;
                        act.maybe_serve(ctx);
                    }
                }
                Err(e) => {
                    warn!(tablet = %alias, error = %e, "cannot replicate after the restore");
                    act.last_error = Some(format!("after the restore: {e}"));
                }
            }
            act.publish_health(ctx);
        }));
    }
}

/// `restore_from_backup` at start: restores the newest complete backup of the shard into a new
/// tablet's mysqld (not started yet); its position, or None when the shard has no backup (the
/// tablet starts empty, as a new shard's tablets do).
pub(super) async fn restore_newest(
    storage: Result<crate::backup::SharedStorage, String>,
    mysqld: &crate::mysqld::Mysqld,
    store: crate::topo::store::TopoStore,
    progress: (crate::backup::ProgressSink, crate::backup::Progress),
) -> Result<Option<String>, String> {
    use crate::backup::BackupStorage;
    let (keyspace, shard, alias) = (&progress.1.keyspace, &progress.1.shard, &progress.1.alias);
    let storage = storage.map_err(|e| format!("restore_from_backup: {e}"))?;
    let backups = storage.list(keyspace, shard).await?;
    let Some(manifest) = backups.into_iter().filter_map(|b| b.manifest).find(crate::backup::is_full) else {
        info!(tablet = %alias, "restore_from_backup: {keyspace}/{shard} has no complete backup; starting empty");
        return Ok(None);
    };
    let what = format!("restore of {alias} from backup {} (restore_from_backup)", manifest.name);
    backup_event(store.clone(), "RestoreStarted", format!("{what} started")).await;
    match crate::backup::restore(&storage, &manifest, mysqld, Some((&progress.0, progress.1.clone()))).await {
        Ok(()) => {
            backup_event(store, "RestoreCompleted", format!("{what} complete at {}", manifest.position)).await;
            Ok(Some(manifest.position))
        }
        Err(e) => {
            backup_event(store, "RestoreFailed", format!("{what} failed: {e}")).await;
            Err(format!("{what} failed: {e}"))
        }
    }
}

impl TabletActor {
    /// After a builtin backup of a replica: replication, stopped for the copy, starts again.
    pub(super) fn start_replication_again(&mut self, ctx: &mut Context<Self>) {
        let service = self.service.clone();
        let alias = self.cfg.alias.clone();
        let fut = async move {
            let mut conn = service.dba_conn().await.map_err(|e| e.to_string())?;
            super::dbconn::exec(&mut conn, "START SLAVE").await.map_err(|e| format!("START SLAVE: {e}"))
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            if let Err(e) = res {
                warn!(tablet = %alias, error = %e, "cannot restart replication after the backup");
                act.last_error = Some(format!("after the backup: {e}"));
            }
        }));
    }
}

impl TabletActor {
    /// An incremental backup: the tablet's closed binary logs (after `FLUSH BINARY LOGS`), but
    /// those an earlier incremental backup of this tablet already holds (same name and size),
    /// at the position where the newest closed log ends.
    fn binlog_backup(&mut self, job: crate::backup::BackupJob) -> ResponseActFuture<Self, ManageReply> {
        let Some(mysqld) = self.mysqld.clone() else {
            let e = format!(
                "{} runs on an external MySQL that tessera does not manage: its binlogs are not on this node",
                self.cfg.alias
            );
            return Box::pin(async move { Err(TabletError::BadRequest(e)) }.into_actor(self));
        };
        let service = self.service.clone();
        let store = self.writer.store().clone();
        let fut = async move {
            use crate::backup::BackupStorage;
            let what = format!("binlog backup of {} ({}/{})", job.alias, job.keyspace, job.shard);
            let res = async {
                let mut conn = service.dba_conn().await.map_err(|e| e.to_string())?;
                super::dbconn::exec(&mut conn, "FLUSH BINARY LOGS")
                    .await
                    .map_err(|e| format!("FLUSH BINARY LOGS: {e}"))?;
                let logs =
                    super::dbconn::run(&mut conn, "SHOW BINARY LOGS", 100_000).await.map_err(|e| e.to_string())?;
                let mut logs: Vec<(String, u64)> = logs
                    .rows
                    .into_iter()
                    .filter_map(|r| {
                        let name = String::from_utf8_lossy(r.first()?.as_ref()?).into_owned();
                        let size = String::from_utf8_lossy(r.get(1)?.as_ref()?).parse().ok()?;
                        Some((name, size))
                    })
                    .collect();
                // The newest log is open; the state it starts with is where the closed ones end.
                let open = logs.pop().ok_or("SHOW BINARY LOGS listed no binlog (is log-bin on?)")?;
                let start = super::dbconn::run(&mut conn, &format!("SHOW BINLOG EVENTS IN '{}' LIMIT 4", open.0), 10)
                    .await
                    .map_err(|e| e.to_string())?;
                let position = start
                    .rows
                    .iter()
                    .find(|r| r.get(2).and_then(|v| v.as_deref()) == Some(b"Gtid_list"))
                    .and_then(|r| r.get(5)?.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()))
                    .map(|info| info.trim().trim_start_matches('[').trim_end_matches(']').to_string())
                    .ok_or_else(|| format!("no Gtid_list event at the start of {}", open.0))?;
                drop(conn);
                let saved: std::collections::HashSet<(String, u64)> = job
                    .storage
                    .list(&job.keyspace, &job.shard)
                    .await?
                    .into_iter()
                    .filter_map(|b| b.manifest)
                    .filter(|m| m.engine == pitr::BINLOG_ENGINE && m.tablet_alias == job.alias)
                    .flat_map(|m| m.files.into_iter().map(|f| (f.path, f.size)))
                    .collect();
                let files: Vec<String> = logs.into_iter().filter(|l| !saved.contains(l)).map(|l| l.0).collect();
                crate::backup::take_files(job, &mysqld.dir.join("binlog"), files, position).await
            }
            .await;
            match &res {
                Ok(m) => backup_event(store, "BackupCompleted", completed(&what, m)).await,
                Err(e) => backup_event(store, "BackupFailed", format!("{what} failed: {e}")).await,
            }
            res.map(|m| ManageResponse::Backup { manifest: Box::new(m) })
                .map_err(|e| TabletError::Internal(format!("{what} failed: {e}")))
        };
        Box::pin(fut.into_actor(self))
    }
}
