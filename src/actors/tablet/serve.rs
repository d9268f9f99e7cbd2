//! Answering requests: the query service on tasks of the node's runtime (one per request, fed
//! by a task per subscription, so a query never passes through the actor's mailbox or the
//! actor's thread), management through the actor.

use std::sync::Arc;

use actix::prelude::*;
use tracing::warn;

use super::manage::{make_primary, replicate_from, schema};
use super::mysql::{exec, run};
use super::query::QueryService;
use super::{Manage, TabletActor};
use crate::protocol::envelope::Envelope;
use crate::protocol::tablet::{
    decode_query_request, encode_query_reply, ManageReply, ManageRequest, ManageResponse, QueryReply, QueryRequest,
    StreamReply, TabletError,
};
use crate::protocol::topology::TabletType;
use crate::sql::{classify, StatementKind};

/// Serves one query subscription until it ends or the task is aborted: each request runs on a
/// task of its own, so requests spread over the runtime's workers. (Running them as futures of
/// this one task instead cost ~8% of point-select throughput at 8 clients: everything a tablet
/// did then ran on one thread at a time.)
pub(super) fn spawn_query_loop(
    service: Arc<QueryService>,
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply_to) = msg.reply.clone() else {
                warn!(subject = %msg.subject, "query request without a reply subject; dropped");
                continue;
            };
            let (service, client) = (service.clone(), client.clone());
            tokio::spawn(async move {
                use futures::FutureExt;
                let work = async {
                    let req = decode_query_request(&msg.payload)
                        .map_err(|e| TabletError::BadRequest(format!("{}: {e}", msg.subject)));
                    match req {
                        Ok(QueryRequest::StreamExecute { sql, binds, chunk_rows }) => {
                            stream_query(&service, &client, reply_to.clone(), sql, binds, chunk_rows).await
                        }
                        req => answer_query(&service, &client, reply_to.clone(), req).await,
                    }
                };
                // A bug that panics on some request fails that request, never the node.
                if let Err(panic) = std::panic::AssertUnwindSafe(work).catch_unwind().await {
                    let what = crate::mysql::conn::panic_message(&panic);
                    tracing::error!(subject = %msg.subject, panic = %what, "query request panicked");
                    let reply: QueryReply = Err(TabletError::Internal(format!(
                        "internal error in tablet {} ({what})",
                        service.state.alias
                    )));
                    let _ = client.publish(reply_to, encode_query_reply(&reply).into()).await;
                }
            });
        }
    })
}

impl StreamHandler<async_nats::Message> for TabletActor {
    fn handle(&mut self, msg: async_nats::Message, ctx: &mut Self::Context) {
        let Some(reply_to) = msg.reply.clone() else {
            warn!(subject = %msg.subject, "tablet request without a reply subject; dropped");
            return;
        };
        let client = self.client.clone();
        {
            let req = match Envelope::<ManageRequest>::decode(&msg.payload) {
                Ok(env) => env.body,
                Err(e) => {
                    let reply: ManageReply = Err(TabletError::BadRequest(format!("{}: {e}", msg.subject)));
                    send_manage_reply(client, reply_to, reply, self.node_id.clone());
                    return;
                }
            };
            let sender = self.node_id.clone();
            let addr = ctx.address();
            tokio::spawn(async move {
                let reply = match addr.send(Manage(req)).await {
                    Ok(r) => r,
                    Err(e) => Err(TabletError::Internal(format!("tablet actor unavailable: {e}"))),
                };
                send_manage_reply(client, reply_to, reply, sender);
            });
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!(tablet = %self.cfg.alias, "manage subscription ended");
    }
}

fn send_manage_reply(client: async_nats::Client, reply_to: async_nats::Subject, reply: ManageReply, sender: String) {
    tokio::spawn(async move {
        match Envelope::new(sender, &reply).encode() {
            Ok(bytes) => {
                let _ = client.publish(reply_to, bytes.into()).await;
            }
            Err(e) => warn!(error = %e, "cannot encode a manage reply"),
        }
    });
}

/// Runs one decoded query-service request and publishes its reply.
async fn answer_query(
    service: &QueryService,
    client: &async_nats::Client,
    reply_to: async_nats::Subject,
    req: Result<QueryRequest, TabletError>,
) {
    let reply: QueryReply = match req {
        Err(e) => Err(e),
        Ok(QueryRequest::Execute { sql, binds, transaction_id }) => service.execute(&sql, &binds, transaction_id).await,
        Ok(QueryRequest::ExecuteBatch { statements }) => {
            let none = Default::default();
            let replies =
                futures::future::join_all(statements.iter().map(|sql| service.execute(sql, &none, None))).await;
            Ok(crate::protocol::tablet::QueryResponse::Batch { replies })
        }
        Ok(QueryRequest::Begin) => service.begin().await,
        Ok(QueryRequest::BeginExecute { sql, binds }) => service.begin_execute(&sql, &binds).await,
        Ok(QueryRequest::Commit { transaction_id }) => service.finish(transaction_id, true).await,
        Ok(QueryRequest::Rollback { transaction_id }) => service.finish(transaction_id, false).await,
        Ok(QueryRequest::StreamExecute { .. }) => {
            Err(TabletError::Internal("a streamed read reached the statement path".into()))
        }
    };
    if let Err(e) = client.publish(reply_to, encode_query_reply(&reply).into()).await {
        warn!(error = %e, "could not send query reply");
    }
}

/// Runs a streamed read, publishing each chunk of rows to `reply_to` as it fills.
async fn stream_query(
    service: &QueryService,
    client: &async_nats::Client,
    reply_to: async_nats::Subject,
    sql: String,
    binds: std::collections::BTreeMap<String, crate::protocol::tablet::BindValue>,
    chunk_rows: u32,
) {
    let streamed = service
        .stream_execute(&sql, &binds, chunk_rows, |chunk| {
            let to = reply_to.clone();
            async move {
                let reply: StreamReply = Ok(chunk);
                client.publish(to, encode_query_reply(&reply).into()).await.is_ok()
            }
        })
        .await;
    if let Err(e) = streamed {
        let reply: StreamReply = Err(e);
        let _ = client.publish(reply_to, encode_query_reply(&reply).into()).await;
    }
}

impl Handler<Manage> for TabletActor {
    type Result = ResponseActFuture<Self, ManageReply>;

    fn handle(&mut self, Manage(req): Manage, _ctx: &mut Self::Context) -> Self::Result {
        let service = self.service.clone();
        let current = self.state.tablet_type();
        let alias = self.cfg.alias.clone();
        let (user, password) = (self.cfg.mysql_user.clone(), self.cfg.mysql_password.clone());
        match req {
            ManageRequest::Status => {
                let fut = async move {
                    let mut conn = service.dba_conn().await.ok()?;
                    super::manage::replication_status(&mut conn).await.ok()
                };
                Box::pin(fut.into_actor(self).map(|repl, act, _| {
                    if repl.is_some() {
                        act.replication = repl;
                    }
                    Ok(ManageResponse::Status { health: act.health() })
                }))
            }
            ManageRequest::SetType { tablet_type } => {
                let allowed = [TabletType::Replica, TabletType::Rdonly, TabletType::Spare, TabletType::Drained];
                let result = if current == TabletType::Primary || !allowed.contains(&tablet_type) {
                    Err(TabletError::BadRequest(format!(
                        "{alias} cannot change from {current} to {tablet_type}: only replica, rdonly, spare and drained \
                         are interchangeable; primaries change by reparenting"
                    )))
                } else {
                    Ok(())
                };
                Box::pin(async move { result }.into_actor(self).map(move |res, act, ctx| {
                    res?;
                    act.set_type(ctx, tablet_type);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} is now {tablet_type}", act.cfg.alias) })
                }))
            }
            ManageRequest::MakePrimary => {
                let fut = async move {
                    let mut conn = service.dba_conn().await?;
                    make_primary(&mut conn, &alias).await
                };
                Box::pin(fut.into_actor(self).map(|res, act, ctx| {
                    let position = res?;
                    act.set_type(ctx, TabletType::Primary);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} is primary at {position}", act.cfg.alias) })
                }))
            }
            ManageRequest::ReplicateFrom { host, port, tablet_type } => {
                let fut = async move {
                    if tablet_type == TabletType::Primary {
                        return Err(TabletError::BadRequest("a replicating tablet cannot be primary".into()));
                    }
                    let mut conn = service.dba_conn().await?;
                    replicate_from(&mut conn, &host, port, &user, &password).await?;
                    Ok(format!("replicating from {host}:{port}"))
                };
                Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
                    let message = res?;
                    act.set_type(ctx, tablet_type);
                    act.publish_health(ctx);
                    Ok(ManageResponse::Done { message: format!("{} ({tablet_type}) {message}", act.cfg.alias) })
                }))
            }
            other => Box::pin(run_manage(service, other, current, alias).into_actor(self)),
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
        | ManageRequest::SetType { .. }
        | ManageRequest::MakePrimary
        | ManageRequest::ReplicateFrom { .. } => Err(TabletError::Internal("handled by the actor".into())),
    }
}
