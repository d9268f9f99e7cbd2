//! Answering requests: the query service on tasks of the node's runtime (one per request, fed
//! by a task per subscription, so a query never passes through the actor's mailbox or the
//! actor's thread), management through the actor.

use std::sync::Arc;

use actix::prelude::*;
use tracing::warn;

use super::dbconn::{exec, run};
use super::manage::{make_primary, replicate_from, replication_status, schema};
use super::query::QueryService;
use super::stream::{Outcome, Streamer};
use super::{Manage, TabletActor};
use crate::bulk::Bulk;
use crate::protocol::tablet::{
    encode_query_reply, KillRequest, ManageReply, ManageRequest, ManageResponse, QueryReply, QueryRequest,
    QueryResponse, TabletError,
};
use crate::protocol::topology::TabletType;
use crate::rpc::exchanges::{Manage as ManageRpc, Query as QueryRpc};
use crate::rpc::Rpc;
use crate::sql::{classify, StatementKind};
use futures::future::BoxFuture;

/// Serves one query subscription until it ends or the task is aborted: each request runs on a
/// task of its own, so requests spread over the runtime's workers. (Running them as futures of
/// this one task instead cost ~8% of point-select throughput at 8 clients: everything a tablet
/// did then ran on one thread at a time.)
pub(super) fn spawn_query_loop(
    service: Arc<QueryService>,
    client: async_nats::Client,
    bulk: Bulk,
    sub: async_nats::Subscriber,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(query_loop(service, client, bulk, sub))
}

/// [`spawn_query_loop`]'s loop, on the calling task (a tablet lane runs it on its own thread;
/// the requests' tasks then run there too).
pub(super) async fn query_loop(
    service: Arc<QueryService>,
    client: async_nats::Client,
    bulk: Bulk,
    mut sub: async_nats::Subscriber,
) {
    use futures::StreamExt;
    while let Some(msg) = sub.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            warn!(subject = %msg.subject, "query request without a reply subject; dropped");
            continue;
        };
        let (service, client, bulk) = (service.clone(), client.clone(), bulk.clone());
        tokio::spawn(async move {
            use futures::FutureExt;
            let work = answer_query(&service, &client, &bulk, msg.payload, msg.subject.as_str(), reply_to.clone());
            // A bug that panics on some request fails that request, never the node.
            if let Err(panic) = std::panic::AssertUnwindSafe(work).catch_unwind().await {
                let what = crate::frontend::conn::panic_message(&panic);
                tracing::error!(subject = %msg.subject, panic = %what, "query request panicked");
                let reply: QueryReply =
                    Err(TabletError::Internal(format!("internal error in tablet {} ({what})", service.state.alias)));
                let _ = client.publish(reply_to, encode_query_reply(&reply).into()).await;
            }
        });
    }
}

/// Serves the kill subject of the tablet's shard: statements the gateway gave up on stop here.
pub(super) fn spawn_kill_loop(
    service: Arc<QueryService>,
    mut sub: async_nats::Subscriber,
) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            match rmp_serde::from_slice::<KillRequest>(&msg.payload) {
                Ok(k) => {
                    let service = service.clone();
                    tokio::spawn(async move { service.kill(&k.query_ids).await });
                }
                Err(e) => warn!(subject = %msg.subject, error = %e, "kill request does not decode; dropped"),
            }
        }
    })
}

/// Sends a reply, as a reference to pull when it is larger than one message.
fn publisher(
    client: async_nats::Client,
    bulk: Bulk,
) -> impl Fn(async_nats::Subject, QueryReply) -> BoxFuture<'static, ()> {
    move |to, reply| {
        let (client, bulk) = (client.clone(), bulk.clone());
        Box::pin(async move {
            let bytes = match QueryRpc::encode_reply("", &reply) {
                Ok(b) => bulk.wrap(b),
                Err(e) => return warn!(error = %e, "could not encode a query reply"),
            };
            if let Err(e) = client.publish(to, bytes.into()).await {
                warn!(error = %e, "could not send query reply");
            }
        })
    }
}

/// Decodes one query-service request, runs it, and answers it (streamed results answer
/// themselves, part by part).
async fn answer_query(
    service: &QueryService,
    client: &async_nats::Client,
    bulk: &Bulk,
    payload: bytes::Bytes,
    subject: &str,
    reply_to: async_nats::Subject,
) {
    let publish = publisher(client.clone(), bulk.clone());
    let req = match crate::bulk::unwrap(client, payload, PULL_TIMEOUT).await {
        Ok(bytes) => QueryRpc::decode_request(&bytes).map_err(|e| TabletError::BadRequest(format!("{subject}: {e}"))),
        Err(e) => Err(TabletError::BadRequest(format!("{subject}: {e}"))),
    };
    let streamer = Streamer { publish: &publish, reply_to: reply_to.clone() };
    let started = std::time::Instant::now();
    let statements = match &req {
        Ok(QueryRequest::Execute { .. } | QueryRequest::BeginExecute { .. }) => 1,
        Ok(QueryRequest::ExecuteBatch { statements, .. }) => statements.len() as u64,
        _ => 0,
    };
    let done = |o: Result<Outcome, TabletError>| -> Option<QueryReply> {
        match o {
            Ok(Outcome::Done(result)) => Some(Ok(service.answer(result))),
            Ok(Outcome::Streamed) => None,
            Err(e) => Some(Err(e)),
        }
    };
    let reply: Option<QueryReply> = match req {
        Err(e) => Some(Err(e)),
        Ok(QueryRequest::Execute { sql, binds, transaction_id, options }) => {
            let stream = options.stream.then_some(&streamer);
            done(service.execute(&sql, &binds, transaction_id, options, stream).await)
        }
        Ok(QueryRequest::ExecuteBatch { statements, options }) => {
            let none = Default::default();
            let runs = statements.iter().enumerate().map(|(i, sql)| {
                let opts = options.get(i).copied().unwrap_or_default();
                service.execute(sql, &none, None, opts, None)
            });
            let replies = futures::future::join_all(runs)
                .await
                .into_iter()
                .map(|o| done(o).unwrap_or(Err(TabletError::TooLargeForBatch)))
                .collect();
            Some(Ok(QueryResponse::Batch { replies }))
        }
        Ok(QueryRequest::Begin) => Some(service.begin(Default::default()).await),
        Ok(QueryRequest::BeginExecute { sql, binds, options }) => {
            let stream = options.stream.then_some(&streamer);
            match service.begin_execute(&sql, &binds, options, stream).await {
                // Streamed: answered part by part already.
                Ok(QueryResponse::Done) => None,
                other => Some(other),
            }
        }
        Ok(QueryRequest::Commit { transaction_id }) => Some(service.finish(transaction_id, true).await),
        Ok(QueryRequest::Rollback { transaction_id }) => Some(service.finish(transaction_id, false).await),
        Ok(QueryRequest::Prepare { transaction_id }) => Some(service.prepare(transaction_id).await),
        Ok(QueryRequest::CommitPrepared { transaction_id, dtid }) => {
            Some(service.conclude_branch(transaction_id, dtid, true).await)
        }
        Ok(QueryRequest::RollbackPrepared { transaction_id, dtid }) => {
            Some(service.conclude_branch(transaction_id, dtid, false).await)
        }
        Ok(QueryRequest::RecoverPrepared) => Some(service.recover_prepared().await),
        Ok(QueryRequest::LockWaits) => Some(service.lock_waits().await),
        Ok(QueryRequest::Fetch { cursor }) => service.cursor(cursor, true, reply_to.clone()).await.err().map(Err),
        Ok(QueryRequest::CloseCursor { cursor }) => {
            service.cursor(cursor, false, reply_to.clone()).await.err().map(Err)
        }
    };
    if statements > 0 {
        let m = &service.metrics;
        m.queries.inc_by(statements);
        m.seconds.observe(started.elapsed().as_secs_f64());
        match &reply {
            Some(Err(_)) => {
                m.errors.inc();
            }
            Some(Ok(QueryResponse::Result { result, .. } | QueryResponse::BeganResult { result, .. })) => {
                m.rows.inc_by(result.rows.len() as u64);
            }
            _ => {}
        }
    }
    if let Some(reply) = reply {
        publish(reply_to, reply).await;
    }
}

/// The longest `SleepTablet` a tablet honours.
const MAX_SLEEP_MS: u64 = 3_600_000;

/// How long a tablet waits for the chunks of a large request.
const PULL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl StreamHandler<async_nats::Message> for TabletActor {
    fn handle(&mut self, msg: async_nats::Message, ctx: &mut Self::Context) {
        let (client, sender, addr) = (self.client.clone(), self.node_id.clone(), ctx.address());
        tokio::spawn(async move {
            let Some((req, replier)) = crate::rpc::receive::<ManageRpc>(&client, &sender, msg, None).await else {
                return;
            };
            let reply = match addr.send(Manage(req)).await {
                Ok(r) => r,
                Err(e) => Err(TabletError::Internal(format!("tablet actor unavailable: {e}"))),
            };
            replier.send(&reply).await;
        });
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!(tablet = %self.cfg.alias, "manage subscription ended");
    }
}

/// How long a management operation waits for the action lock: less than its callers wait for
/// an answer (a reparent gives a tablet 5 s), so one that gives up is never run later.
const ACTION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

impl TabletActor {
    /// Takes the action lock (bounded by [`ACTION_LOCK_WAIT`]) and reads the tablet type as it is
    /// once held, for the checks of the operation that waited.
    fn action_lock(
        &self,
    ) -> impl std::future::Future<Output = Result<(tokio::sync::OwnedMutexGuard<()>, TabletType), TabletError>> + 'static
    {
        let (actions, state, alias) = (self.actions.clone(), self.state.clone(), self.cfg.alias.clone());
        async move {
            match tokio::time::timeout(ACTION_LOCK_WAIT, actions.lock_owned()).await {
                Ok(guard) => Ok((guard, state.tablet_type())),
                Err(_) => Err(TabletError::Internal(format!(
                    "tablet {alias}: its action lock stayed held for {} ms (a SleepTablet, or another role, replication \
                     or schema change, is running); nothing was done; retry",
                    ACTION_LOCK_WAIT.as_millis()
                ))),
            }
        }
    }
}

impl Handler<Manage> for TabletActor {
    type Result = ResponseActFuture<Self, ManageReply>;

    fn handle(&mut self, Manage(req): Manage, _ctx: &mut Self::Context) -> Self::Result {
        let service = self.service.clone();
        let current = self.state.tablet_type();
        let alias = self.cfg.alias.clone();
        let (user, password) = self.cfg.replication_login();
        match req {
            ManageRequest::Status => {
                let fut = async move {
                    let mut conn = service.dba_conn().await.ok()?;
                    replication_status(&mut conn).await.ok()
                };
                Box::pin(fut.into_actor(self).map(|repl, act, _| {
                    if repl.is_some() {
                        act.replication = repl;
                    }
                    Ok(ManageResponse::Status { health: Box::new(act.health()) })
                }))
            }
            ManageRequest::SetType { tablet_type } => {
                let allowed = [TabletType::Replica, TabletType::Rdonly, TabletType::Spare, TabletType::Drained];
                let lock = self.action_lock();
                let fut = async move {
                    let (_lock, current) = lock.await?;
                    if current == TabletType::Primary || !allowed.contains(&tablet_type) {
                        return Err(TabletError::BadRequest(format!(
                            "{alias} cannot change from {current} to {tablet_type}: only replica, rdonly, spare and \
                             drained are interchangeable; primaries change by reparenting"
                        )));
                    }
                    Ok(())
                };
                Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
                    res?;
                    act.set_type(ctx, tablet_type);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} is now {tablet_type}", act.cfg.alias) })
                }))
            }
            ManageRequest::MakePrimary { semi_sync, term } => {
                let lock = self.action_lock();
                let fut = async move {
                    let _lock = lock.await?;
                    let mut conn = service.dba_conn().await?;
                    let position = make_primary(&mut conn, &alias, semi_sync).await?;
                    service.set_writes_held(false, Vec::new(), std::time::Duration::ZERO).await;
                    Ok(position)
                };
                Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
                    let position = res?;
                    act.state.fence.promoted_at(term);
                    act.set_type(ctx, TabletType::Primary);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} is primary at {position}", act.cfg.alias) })
                }))
            }
            ManageRequest::ReplicateFrom { host, port, tablet_type, semi_sync } => {
                let lock = self.action_lock();
                let fut = async move {
                    let (_lock, current) = lock.await?;
                    let from_own_position = current == TabletType::Primary;
                    if tablet_type == TabletType::Primary {
                        return Err(TabletError::BadRequest("a replicating tablet cannot be primary".into()));
                    }
                    let mut conn = service.dba_conn().await?;
                    let ack = semi_sync && tablet_type != TabletType::Rdonly;
                    replicate_from(&mut conn, &host, port, (&user, &password), from_own_position, ack).await?;
                    service.set_writes_held(false, Vec::new(), std::time::Duration::ZERO).await;
                    Ok(format!("replicating from {host}:{port}{}", if ack { " (semi-sync)" } else { "" }))
                };
                Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
                    let message = res?;
                    act.set_type(ctx, tablet_type);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} ({tablet_type}) {message}", act.cfg.alias) })
                }))
            }
            ManageRequest::Backup { engine, concurrency, allow_primary } => {
                self.backup(engine, concurrency, allow_primary, current)
            }
            ManageRequest::Restore { name, to } => self.restore(name, to, current),
            ManageRequest::Sleep { duration_ms } => {
                let lock = self.action_lock();
                let fut = async move {
                    let d = std::time::Duration::from_millis(duration_ms.min(MAX_SLEEP_MS));
                    let waited = std::time::Instant::now();
                    let _lock = lock.await?;
                    tokio::time::sleep(d).await;
                    Ok(ManageResponse::Done {
                        message: format!(
                            "{alias} held its action lock for {} ms (waited {} ms for it)",
                            d.as_millis(),
                            waited.elapsed().saturating_sub(d).as_millis()
                        ),
                    })
                };
                Box::pin(fut.into_actor(self))
            }
            other => {
                // Role, replication and schema changes wait for the action lock.
                let locked = matches!(
                    other,
                    ManageRequest::DemotePrimary { .. }
                        | ManageRequest::UndoDemotePrimary
                        | ManageRequest::StartReplication
                        | ManageRequest::StopReplication
                        | ManageRequest::ApplyDdl { .. }
                );
                let lock = self.action_lock();
                let fut = async move {
                    if !locked {
                        return run_manage(service, other, current, alias).await;
                    }
                    let (_lock, current) = lock.await?;
                    run_manage(service, other, current, alias).await
                };
                Box::pin(fut.into_actor(self))
            }
        }
    }
}

/// Management operations that do not change the actor's state.
async fn run_manage(service: Arc<QueryService>, req: ManageRequest, current: TabletType, alias: String) -> ManageReply {
    let mut conn = service.dba_conn().await?;
    match req {
        ManageRequest::StartReplication | ManageRequest::StopReplication if current == TabletType::Primary => {
            Err(TabletError::BadRequest(format!("{alias} is the primary: it does not replicate")))
        }
        ManageRequest::DemotePrimary { .. } | ManageRequest::UndoDemotePrimary if current != TabletType::Primary => {
            Err(TabletError::BadRequest(format!("{alias} is {current}, not primary")))
        }
        ManageRequest::StopReplicationAndGetStatus { .. } if current == TabletType::Primary => {
            Err(TabletError::BadRequest(format!("{alias} is the primary: it does not replicate")))
        }
        ManageRequest::DemotePrimary { drain_ms } => {
            drop(conn);
            service.set_writes_held(true, Vec::new(), std::time::Duration::from_millis(drain_ms)).await;
            let mut conn = service.dba_conn().await?;
            let status = super::manage::demote_primary(&mut conn).await?;
            Ok(ManageResponse::Position { status })
        }
        ManageRequest::UndoDemotePrimary => {
            super::manage::undo_demote_primary(&mut conn).await?;
            service.set_writes_held(false, Vec::new(), std::time::Duration::ZERO).await;
            Ok(ManageResponse::Done { message: format!("{alias}: writable again") })
        }
        ManageRequest::WaitForPosition { position, timeout_ms } => {
            super::manage::wait_for_position(&mut conn, &position, timeout_ms).await?;
            Ok(ManageResponse::Position { status: replication_status(&mut conn).await? })
        }
        ManageRequest::StopReplicationAndGetStatus { wait_ms } => {
            let status = super::manage::stop_replication_and_get_status(&mut conn, wait_ms).await?;
            Ok(ManageResponse::Position { status })
        }
        ManageRequest::StartReplication => {
            exec(&mut conn, "START SLAVE").await?;
            Ok(ManageResponse::Done { message: format!("{alias}: replication started") })
        }
        ManageRequest::StopReplication => {
            exec(&mut conn, "STOP SLAVE").await?;
            Ok(ManageResponse::Done { message: format!("{alias}: replication stopped") })
        }
        ManageRequest::GetSchema => Ok(ManageResponse::Schema { schema: schema(&mut conn).await? }),
        ManageRequest::SetWritesHeld { held, tables, drain_ms } => {
            drop(conn);
            let message = service.set_writes_held(held, tables, std::time::Duration::from_millis(drain_ms)).await;
            Ok(ManageResponse::Done { message })
        }
        ManageRequest::ExecuteFetchAsDba { sql, max_rows } => {
            let result = run(&mut conn, &sql, max_rows.unwrap_or(service.limits.max_result_rows)).await?;
            Ok(ManageResponse::Result { result })
        }
        ManageRequest::ApplyDdl { sql } => {
            if current != TabletType::Primary {
                return Err(TabletError::ReadOnly { alias, tablet_type: current });
            }
            if classify(&sql) != StatementKind::Ddl {
                return Err(TabletError::BadRequest("ApplyDdl takes one DDL statement".into()));
            }
            exec(&mut conn, &sql).await?;
            Ok(ManageResponse::Done { message: format!("{alias}: applied") })
        }
        ManageRequest::Status
        | ManageRequest::Backup { .. }
        | ManageRequest::Restore { .. }
        | ManageRequest::SetType { .. }
        | ManageRequest::MakePrimary { .. }
        | ManageRequest::ReplicateFrom { .. }
        | ManageRequest::Sleep { .. } => Err(TabletError::Internal("handled by the actor".into())),
    }
}
