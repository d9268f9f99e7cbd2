//! The coordinator's side of a two-phase commit, run by the gateway session that committed:
//! prepare every branch, record the decision, commit every branch, forget the record.
//!
//! Where it can stop, and what then happens:
//! - before the decision is recorded (a prepare failed, the gateway died): no commit decision
//!   exists, so every branch is rolled back (now, or by the resolver once it finds them);
//! - after the decision: every branch commits (now, or by the resolver); the client is told
//!   the commit succeeded once the decision is durable, whatever a branch answers.
//!
//! Failpoints (`TESSERA_FAILPOINTS`, armed for the whole gateway process) stop the process at
//! each step as SIGKILL would, or pause there 3 s so a test can kill a participant:
//! `twopc-kill-{before-prepare,after-prepare,after-decision,mid-commit}` and
//! `twopc-pause-{...}` with the same step names.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::warn;

use super::{Decision, Participant, TxRecord};
use crate::engine::shards::ShardsRef;
use crate::plan::GatewayError;
use crate::protocol::tablet::{dtid_name, QueryRequest, TabletError};
use crate::protocol::topology::TabletType;

/// A shard's branch: keyspace and shard, and the tablet and transaction holding it.
pub type Branches = BTreeMap<(String, String), (String, u64)>;

/// Stops here as a SIGKILL would, or pauses, when a test armed this step's failpoint.
async fn step(name: &str) {
    if crate::failpoint::armed(&format!("twopc-kill-{name}")) {
        warn!(step = name, "failpoint: the gateway kills itself in the middle of a two-phase commit");
        // SAFETY: raising a signal at our own process; no memory is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    if crate::failpoint::armed(&format!("twopc-pause-{name}")) {
        warn!(step = name, "failpoint: pausing a two-phase commit");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Commits the branches of distributed transaction `dtid` atomically.
pub async fn commit(tc: &ShardsRef, dtid: u64, branches: Branches, coordinator: &str) -> Result<(), GatewayError> {
    let result = two_phases(tc, dtid, branches, coordinator).await;
    let outcome = match &result {
        Ok(()) => "committed",
        Err(GatewayError::RolledBack(_)) => "rolled_back",
        Err(_) => "unknown",
    };
    crate::metrics::metrics().distributed_commits.get_or_create(&crate::metrics::OutcomeLabels { outcome }).inc();
    result
}

async fn two_phases(tc: &ShardsRef, dtid: u64, branches: Branches, coordinator: &str) -> Result<(), GatewayError> {
    let name = dtid_name(dtid);
    let Some(log) = tc.txlog() else {
        rollback_all(tc, dtid, &branches).await;
        return Err(GatewayError::RolledBack(format!(
            "distributed transaction {name} rolled back: this gateway has no transaction log for two-phase commit"
        )));
    };
    step("before-prepare").await;
    let started = std::time::Instant::now();
    let prepares = branches.values().map(|(alias, id)| tc.tablet(alias, QueryRequest::Prepare { transaction_id: *id }));
    let prepared = futures::future::join_all(prepares).await;
    if let Some(((ks, shard), e)) = branches.keys().zip(&prepared).find_map(|(k, r)| r.as_ref().err().map(|e| (k, e))) {
        rollback_all(tc, dtid, &branches).await;
        return Err(GatewayError::RolledBack(format!(
            "distributed transaction {name} rolled back: {ks}/{shard} could not prepare its part: {e}"
        )));
    }
    step("after-prepare").await;
    if started.elapsed() > super::MAX_UNDECIDED {
        rollback_all(tc, dtid, &branches).await;
        return Err(GatewayError::RolledBack(format!(
            "distributed transaction {name} rolled back: preparing took {:?}, past the {:?} a commit decision may \
             come after",
            started.elapsed(),
            super::MAX_UNDECIDED
        )));
    }
    let participants: Vec<Participant> = branches
        .iter()
        .map(|((keyspace, shard), (tablet, _))| Participant {
            keyspace: keyspace.clone(),
            shard: shard.clone(),
            tablet: tablet.clone(),
        })
        .collect();
    let record = TxRecord {
        dtid,
        decision: Decision::Commit,
        participants,
        decided_by: format!("gateway {coordinator}"),
        time_ms: crate::protocol::envelope::now_ms(),
    };
    let stands = match log.decide(record.clone()).await {
        Ok(r) => r,
        // The write may or may not have landed (an acknowledgement lost): only another
        // create-if-absent can tell. A rollback recorded now stands if the commit did not.
        Err(e) => {
            let rollback = TxRecord { decision: Decision::Rollback, ..record.clone() };
            match log.decide(rollback).await {
                Ok(r) => r,
                Err(e2) => {
                    return Err(GatewayError::Commit(format!(
                        "distributed transaction {name}: the outcome is unknown: recording the commit decision \
                         failed ({e}) and recording a rollback too ({e2}); every shard holds its part prepared, \
                         and the resolver will commit it if the decision was recorded, else roll it back \
                         (`tessera ctl DistributedTransaction show {name}`)"
                    )));
                }
            }
        }
    };
    if stands.decision != Decision::Commit || stands.decided_by != record.decided_by {
        rollback_all(tc, dtid, &branches).await;
        let why = if stands.decided_by == record.decided_by {
            "its commit decision could not be recorded".to_string()
        } else {
            format!(
                "{} decided to roll it back first (it waited too long between prepare and commit)",
                stands.decided_by
            )
        };
        return Err(GatewayError::RolledBack(format!("distributed transaction {name} rolled back: {why}")));
    }
    step("after-decision").await;
    let mut all_done = true;
    let mut iter = branches.iter();
    if let Some(first) = iter.next() {
        all_done &= commit_branch(tc, dtid, first).await;
        step("mid-commit").await;
    }
    let rest = futures::future::join_all(iter.map(|b| commit_branch(tc, dtid, b))).await;
    all_done &= rest.iter().all(|ok| *ok);
    if all_done {
        // Forgetting the record is not on the client's path: the resolver forgets it too,
        // once it finds no branch left prepared.
        let tc = tc.clone();
        tokio::spawn(async move {
            if let Some(log) = tc.txlog() {
                if let Err(e) = log.remove(dtid).await {
                    warn!(dtid = %dtid_name(dtid), error = %e, "forgetting a committed distributed transaction");
                }
            }
        });
    }
    Ok(())
}

/// Commits one branch: on its tablet, else (the tablet restarted or was replaced) by XA id on
/// the shard's primary. False when neither answered: the resolver will finish it.
async fn commit_branch(
    tc: &ShardsRef,
    dtid: u64,
    ((ks, shard), (alias, id)): (&(String, String), &(String, u64)),
) -> bool {
    let on_tablet = tc.tablet(alias, QueryRequest::CommitPrepared { transaction_id: Some(*id), dtid }).await;
    let Err(e) = on_tablet else { return true };
    let retry = tc.target(ks, shard, TabletType::Primary, QueryRequest::CommitPrepared { transaction_id: None, dtid });
    match retry.await {
        Ok(_) => true,
        Err(e2) => {
            warn!(dtid = %dtid_name(dtid), shard = %format!("{ks}/{shard}"), tablet = %alias, error = %e, retry_error = %e2,
                  "a committed distributed transaction's branch could not be committed now; the resolver will");
            false
        }
    }
}

/// Rolls back every branch (prepared or not), on its tablet or by XA id on the primary;
/// what cannot be reached now is rolled back by the resolver (no commit decision exists).
pub async fn rollback_all(tc: &ShardsRef, dtid: u64, branches: &Branches) {
    let rollbacks = branches.iter().map(|((ks, shard), (alias, id))| async move {
        let req = QueryRequest::RollbackPrepared { transaction_id: Some(*id), dtid };
        if let Err(e) = tc.tablet(alias, req).await {
            if !matches!(e, TabletError::Mysql { .. }) {
                let req = QueryRequest::RollbackPrepared { transaction_id: None, dtid };
                let _ = tc.target(ks, shard, TabletType::Primary, req).await;
            }
        }
    });
    futures::future::join_all(rollbacks).await;
}
