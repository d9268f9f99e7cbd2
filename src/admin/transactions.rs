//! `DistributedTransaction list|show|conclude`: the transaction log and the shards' prepared
//! branches, read the way the resolver reads them; `conclude` runs the resolver's steps for
//! one transaction at once.

use std::sync::Arc;

use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError};
use crate::protocol::tablet::{dtid_name, parse_dtid};
use crate::twopc::resolver;

fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

impl AdminService {
    pub(super) async fn transaction_command(&self, req: AdminRequest) -> AdminReply {
        let AdminRequest::DistributedTransaction { action, dtid, keyspace } = req else {
            return Err(err(ErrorCode::BadRequest, format!("{} is not a DistributedTransaction command", req.name())));
        };
        let (Some(tablets), Some(log)) = (self.tablets.clone(), self.txlog.clone()) else {
            return Err(err(ErrorCode::Unavailable, "this process cannot reach tablets or the transaction log"));
        };
        let dtid = match (action.as_str(), dtid.as_deref()) {
            ("list", _) => None,
            ("show" | "read" | "conclude", Some(d)) => Some(parse_dtid(d).ok_or_else(|| {
                err(
                    ErrorCode::InvalidArgument,
                    format!("`{d}` is not a distributed transaction id (tsr + 16 hex digits, as list shows)"),
                )
            })?),
            ("show" | "read" | "conclude", None) => {
                return Err(err(
                    ErrorCode::InvalidArgument,
                    format!("DistributedTransaction {action} needs a transaction id"),
                ))
            }
            (other, _) => {
                return Err(err(
                    ErrorCode::InvalidArgument,
                    format!("unknown action `{other}`: use list [keyspace], show <dtid> or conclude <dtid>"),
                ))
            }
        };
        let topo = self.synced().await?;
        let tc: crate::engine::shards::ShardsRef = Arc::new(tablets);
        let survey = resolver::survey(&tc, log.as_ref(), &topo)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("reading the transaction log: {e}")))?;
        let unreachable = survey.unreachable.clone();
        let Some(d) = dtid else {
            let mut transactions = survey.in_doubt();
            if let Some(ks) = &keyspace {
                let prefix = format!("{ks}/");
                transactions.retain(|t| {
                    t.prepared_on.iter().any(|s| s.starts_with(&prefix))
                        || t.record.as_ref().is_some_and(|r| r.participants.iter().any(|p| &p.keyspace == ks))
                });
            }
            return Ok(AdminResponse::Transactions { transactions, unreachable, steps: Vec::new() });
        };
        let Some(found) = survey.txs.get(&d) else {
            return Err(err(
                ErrorCode::NotFound,
                format!("no distributed transaction {} in the log or prepared on any shard: it has concluded (or never existed)", dtid_name(d)),
            ));
        };
        let transactions: Vec<_> = survey.one(d).into_iter().collect();
        if action != "conclude" {
            return Ok(AdminResponse::Transactions { transactions, unreachable, steps: Vec::new() });
        }
        let who = "DistributedTransaction conclude";
        let events = resolver::resolve_one(&tc, log.as_ref(), d, found, &survey.answered, true, who).await;
        let mut steps = Vec::new();
        for (name, summary) in events {
            steps.push(format!("{name}: {summary}"));
            resolver::publish(self.writer.store(), name, summary).await;
        }
        Ok(AdminResponse::Transactions { transactions, unreachable, steps })
    }
}
