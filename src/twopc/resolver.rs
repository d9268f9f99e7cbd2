//! The resolver: a cluster-wide singleton (lease `singleton.twopc-resolver`, taken over when
//! its node dies) that finds distributed transactions in doubt and ends them.
//!
//! Each pass reads the transaction log and asks every shard's primary for its prepared
//! branches (`XA RECOVER`, which also finds branches a crash or a reparent left behind):
//! - a branch whose transaction has a recorded decision is committed or rolled back as decided;
//! - a branch with no decision, still prepared `abandon_after` after it was first seen (its
//!   coordinator died between prepare and decision), gets a rollback decision recorded (the
//!   log's create-if-absent means the coordinator can no longer record a commit), then is
//!   rolled back;
//! - a record none of whose shards holds a branch any more is forgotten.
//!
//! Every step is a cluster event (kind `transaction`). `DistributedTransaction conclude` runs
//! the same steps for one transaction at once, without waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::{info, warn};

use super::{Decision, Participant, TxLog, TxRecord};
use crate::engine::shards::ShardsRef;
use crate::lease::Singleton;
use crate::protocol::events::ClusterEvent;
use crate::protocol::tablet::{dtid_name, QueryRequest, QueryResponse};
use crate::protocol::topology::TabletType;
use crate::topo::state::Topology;
use crate::topo::store::TopoStore;

/// `[twopc]` in the node's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// This node may run the resolver singleton.
    pub resolver: bool,
    /// How long a prepared branch without a decision may wait for its coordinator before
    /// the resolver rolls it back.
    pub abandon_after_ms: u64,
    /// How often the resolver looks.
    pub resolve_every_ms: u64,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig { resolver: true, abandon_after_ms: 10_000, resolve_every_ms: 1_000 }
    }
}

/// A distributed transaction as the resolver sees it: its record, and the shards where a
/// branch of it is prepared now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct InDoubt {
    pub dtid: String,
    pub record: Option<TxRecord>,
    pub prepared_on: Vec<String>,
}

/// A transaction's record (if any) and the shards (keyspace, shard) holding a prepared branch.
pub type Found = (Option<TxRecord>, Vec<(String, String)>);

/// What a look at the cluster found: transactions by id, and shards whose primary did not
/// answer (their branches are unknown).
#[derive(Debug, Default)]
pub struct Survey {
    pub txs: BTreeMap<u64, Found>,
    pub unreachable: Vec<String>,
    /// The shards whose primary answered (their prepared branches are known).
    pub answered: BTreeSet<(String, String)>,
}

/// Reads the log and every shard primary's prepared branches.
pub async fn survey(tc: &ShardsRef, log: &dyn TxLog, topo: &Topology) -> Result<Survey, String> {
    let mut out = Survey::default();
    for r in log.list().await.map_err(|e| e.to_string())? {
        let dtid = r.dtid;
        out.txs.entry(dtid).or_default().0 = Some(r);
    }
    let mut shards: Vec<(String, String)> = Vec::new();
    for ks in topo.keyspaces.values() {
        for s in ks.shards.values() {
            if s.primary.is_some() {
                shards.push((ks.name.clone(), s.name.clone()));
            } else {
                out.unreachable.push(format!("{}/{} (no primary)", ks.name, s.name));
            }
        }
    }
    let asks = shards.iter().map(|(ks, sh)| tc.target(ks, sh, TabletType::Primary, QueryRequest::RecoverPrepared));
    for ((ks, sh), reply) in shards.iter().zip(futures::future::join_all(asks).await) {
        match reply {
            Ok(QueryResponse::Prepared { dtids }) => {
                out.answered.insert((ks.clone(), sh.clone()));
                for d in dtids {
                    out.txs.entry(d).or_default().1.push((ks.clone(), sh.clone()));
                }
            }
            Ok(other) => out.unreachable.push(format!("{ks}/{sh} (answered {other:?})")),
            Err(e) => out.unreachable.push(format!("{ks}/{sh} ({e})")),
        }
    }
    Ok(out)
}

impl Survey {
    /// As `DistributedTransaction list` shows it: every transaction but rollbacks already
    /// carried out (kept a while as records).
    pub fn in_doubt(&self) -> Vec<InDoubt> {
        self.txs
            .iter()
            .filter(|(_, (record, on))| {
                !on.is_empty() || record.as_ref().is_some_and(|r| r.decision == Decision::Commit)
            })
            .map(|(d, found)| Self::shown(*d, found))
            .collect()
    }

    /// One transaction, whatever its state.
    pub fn one(&self, dtid: u64) -> Option<InDoubt> {
        self.txs.get(&dtid).map(|found| Self::shown(dtid, found))
    }

    fn shown(dtid: u64, (record, on): &Found) -> InDoubt {
        InDoubt {
            dtid: dtid_name(dtid),
            record: record.clone(),
            prepared_on: on.iter().map(|(k, s)| format!("{k}/{s}")).collect(),
        }
    }
}

/// Ends transaction `dtid`'s prepared branches on `shards` as `decision` says. Errs naming
/// the shards that could not be reached.
async fn apply(tc: &ShardsRef, dtid: u64, decision: Decision, shards: &[(String, String)]) -> Result<(), String> {
    let ends = shards.iter().map(|(ks, sh)| {
        let req = match decision {
            Decision::Commit => QueryRequest::CommitPrepared { transaction_id: None, dtid },
            Decision::Rollback => QueryRequest::RollbackPrepared { transaction_id: None, dtid },
        };
        tc.target(ks, sh, TabletType::Primary, req)
    });
    let failed: Vec<String> = shards
        .iter()
        .zip(futures::future::join_all(ends).await)
        .filter_map(|((ks, sh), r)| r.err().map(|e| format!("{ks}/{sh}: {e}")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Drives one transaction to its end: to its recorded decision, or, with `rollback_undecided`,
/// to a rollback recorded now. Returns the events to publish (name, summary).
pub async fn resolve_one(
    tc: &ShardsRef,
    log: &dyn TxLog,
    dtid: u64,
    found: &Found,
    answered: &BTreeSet<(String, String)>,
    rollback_undecided: bool,
    who: &str,
) -> Vec<(&'static str, String)> {
    let name = dtid_name(dtid);
    let (record, prepared_on) = found;
    let record = match record {
        Some(r) => r.clone(),
        None if !rollback_undecided => return Vec::new(),
        None => {
            let rollback = TxRecord {
                dtid,
                decision: Decision::Rollback,
                participants: prepared_on
                    .iter()
                    .map(|(k, s)| Participant { keyspace: k.clone(), shard: s.clone(), tablet: String::new() })
                    .collect(),
                decided_by: who.to_string(),
                time_ms: crate::protocol::envelope::now_ms(),
            };
            match log.decide(rollback).await {
                Ok(r) => r,
                Err(e) => return vec![("TransactionResolveFailed", format!("{name}: recording a rollback: {e}"))],
            }
        }
    };
    let shards: Vec<String> = prepared_on.iter().map(|(k, s)| format!("{k}/{s}")).collect();
    let mut events = Vec::new();
    if !prepared_on.is_empty() {
        events.push((
            "TransactionInDoubt",
            format!(
                "{name} prepared on [{}]; decision {:?} by {}",
                shards.join(", "),
                record.decision,
                record.decided_by
            ),
        ));
        if let Err(e) = apply(tc, dtid, record.decision, prepared_on).await {
            events.push(("TransactionResolveFailed", format!("{name}: {e}; will try again")));
            return events;
        }
        let done = match record.decision {
            Decision::Commit => "TransactionCommitted",
            Decision::Rollback => "TransactionRolledBack",
        };
        events.push((done, format!("{name}: {:?} on [{}] by {who}", record.decision, shards.join(", "))));
    }
    // A rollback is remembered a while, so a coordinator that comes back late to record its
    // commit finds it; a commit is forgotten once every participant's primary answered and
    // holds none of its branches any more (a shard that did not answer may still hold one,
    // which without the record would later look undecided and be rolled back).
    let age = crate::protocol::envelope::now_ms().saturating_sub(record.time_ms);
    let all_known = record.participants.iter().all(|p| answered.contains(&(p.keyspace.clone(), p.shard.clone())));
    let forget = match record.decision {
        Decision::Commit => all_known,
        Decision::Rollback => all_known && age > super::ROLLBACK_KEPT.as_millis() as u64,
    };
    if forget {
        if let Err(e) = log.remove(dtid).await {
            events.push(("TransactionResolveFailed", format!("{name}: forgetting its record: {e}")));
        }
    }
    events
}

/// Publishes a transaction event (logged as well).
pub async fn publish(store: &TopoStore, name: &str, summary: String) {
    info!(event = name, "{summary}");
    let ev = ClusterEvent::transaction(name, summary);
    let id = uuid::Uuid::new_v4().simple().to_string();
    if let Err(e) = store.publish_event(&ev, &id).await {
        warn!(error = %e, event = name, "could not publish a transaction event");
    }
}

/// Runs the resolver on this node while it holds the singleton's lease.
pub fn spawn(
    cfg: ResolverConfig,
    view: crate::topo::view::TopoView,
    tc: ShardsRef,
    log: Arc<dyn TxLog>,
    store: TopoStore,
    mut lease: Singleton,
    node: String,
) {
    if !cfg.resolver {
        return;
    }
    let every = Duration::from_millis(cfg.resolve_every_ms.max(50));
    let abandon = Duration::from_millis(cfg.abandon_after_ms);
    let who = format!("resolver {node}");
    tokio::spawn(async move {
        let mut held = false;
        let mut renewed = Instant::now();
        // When each undecided transaction was first seen prepared.
        let mut first_seen: HashMap<u64, Instant> = HashMap::new();
        loop {
            if renewed.elapsed() >= Singleton::RENEW_EVERY || !held {
                let now_held = lease.tick().await;
                renewed = Instant::now();
                if now_held != held {
                    info!(
                        holder = now_held,
                        "transaction resolver lease {}",
                        if now_held { "taken" } else { "released" }
                    );
                    held = now_held;
                    first_seen.clear();
                }
            }
            if held {
                pass(&tc, log.as_ref(), &view.snapshot(), &store, &who, abandon, &mut first_seen).await;
            }
            tokio::time::sleep(if held { every } else { Singleton::RENEW_EVERY }).await;
        }
    });
}

/// One look at the cluster.
async fn pass(
    tc: &ShardsRef,
    log: &dyn TxLog,
    topo: &Topology,
    store: &TopoStore,
    who: &str,
    abandon: Duration,
    first_seen: &mut HashMap<u64, Instant>,
) {
    let survey = match survey(tc, log, topo).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "transaction resolver: cannot read the transaction log");
            return;
        }
    };
    first_seen.retain(|d, _| survey.txs.get(d).is_some_and(|(r, on)| r.is_none() && !on.is_empty()));
    let now_ms = crate::protocol::envelope::now_ms();
    for (dtid, found) in &survey.txs {
        let (record, prepared_on) = found;
        let age = now_ms.saturating_sub(record.as_ref().map_or(now_ms, |r| r.time_ms));
        let ready = match record {
            // A carried-out rollback is kept an hour (see `resolve_one`).
            Some(r) if prepared_on.is_empty() && r.decision == Decision::Rollback => {
                age > super::ROLLBACK_KEPT.as_millis() as u64
            }
            // A coordinator commits its branches within milliseconds of its decision: a record
            // older than a few seconds is in doubt (`resolve_one` forgets it only once every
            // participant answered).
            Some(_) => age > 3_000,
            None => first_seen.entry(*dtid).or_insert_with(Instant::now).elapsed() >= abandon,
        };
        if !ready {
            continue;
        }
        first_seen.remove(dtid);
        for (name, summary) in resolve_one(tc, log, *dtid, found, &survey.answered, true, who).await {
            publish(store, name, summary).await;
        }
    }
}
