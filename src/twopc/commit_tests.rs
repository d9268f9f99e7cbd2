//! The coordinator over in-memory shards: what each transaction mode sends, in what order.

use crate::engine::exec;
use crate::engine::memory::{affected, MemoryShards};
use crate::engine::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::Target;
use crate::protocol::tablet::TabletError;
use crate::protocol::topology::TabletType;
use crate::twopc::{Decision, TxLog, TxMode, TxRecord};

fn session(mode: TxMode) -> SessionState {
    SessionState {
        target: Target::parse("customer").unwrap_or_default(),
        autocommit: true,
        in_transaction: true,
        transaction_mode: mode,
        ..Default::default()
    }
}

async fn write_both(tablets: &ShardsRef, s: &mut SessionState) -> Result<(), crate::plan::GatewayError> {
    let shards = ["-80".to_string(), "80-".to_string()];
    exec::run_shards(tablets, s, "customer", &shards, "update customer set n = n + 1", TabletType::Primary)
        .await
        .map(|_| ())
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.contains(what)).count()
}

#[tokio::test]
async fn twopc_prepares_every_shard_records_the_decision_then_commits() {
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session(TxMode::Twopc);
    write_both(&tablets, &mut s).await.unwrap();
    let dtid = s.dtid.expect("a twopc transaction has a dtid once a shard began");
    exec::commit(&tablets, &mut s).await.unwrap();
    let lines = shards.lines();
    assert_eq!(count(&lines, " xa"), 2, "both shards begin XA branches: {lines:?}");
    let last_prepare = lines.iter().rposition(|l| l.contains(": prepare")).unwrap();
    let first_commit = lines.iter().position(|l| l.contains(": commit prepared")).unwrap();
    assert_eq!(count(&lines, ": prepare"), 2, "{lines:?}");
    assert_eq!(count(&lines, ": commit prepared"), 2, "{lines:?}");
    assert!(last_prepare < first_commit, "every branch prepares before any commits: {lines:?}");
    assert!(s.dtid.is_none() && s.shard_txs.is_empty() && !s.in_transaction);
    // The record is forgotten once every branch committed (in the background).
    for _ in 0..100 {
        if shards.txlog.get(dtid).await.unwrap().is_none() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the record of a committed transaction stays");
}

#[tokio::test]
async fn a_branch_that_cannot_prepare_rolls_every_branch_back() {
    let shards = MemoryShards::new(|at, sql| {
        if at == "customer/80-" && sql.starts_with("prepare") {
            return Err(TabletError::Mysql { code: 1614, state: "XA102".into(), message: "XA_RBDEADLOCK".into() });
        }
        Ok(affected(1))
    });
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session(TxMode::Twopc);
    write_both(&tablets, &mut s).await.unwrap();
    let dtid = s.dtid.unwrap();
    let e = exec::commit(&tablets, &mut s).await.unwrap_err();
    assert_eq!(e.mysql_code().0, 1402, "{e}");
    assert!(e.to_string().contains("customer/80- could not prepare"), "{e}");
    let lines = shards.lines();
    assert_eq!(count(&lines, ": rollback prepared"), 2, "{lines:?}");
    assert_eq!(count(&lines, ": commit"), 0, "{lines:?}");
    assert_eq!(shards.txlog.get(dtid).await.unwrap(), None, "no decision was recorded");
}

#[tokio::test]
async fn a_rollback_the_resolver_recorded_first_wins() {
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session(TxMode::Twopc);
    write_both(&tablets, &mut s).await.unwrap();
    let dtid = s.dtid.unwrap();
    let rollback = TxRecord {
        dtid,
        decision: Decision::Rollback,
        participants: Vec::new(),
        decided_by: "resolver n1".into(),
        time_ms: 0,
    };
    shards.txlog.decide(rollback).await.unwrap();
    let e = exec::commit(&tablets, &mut s).await.unwrap_err();
    assert_eq!(e.mysql_code().0, 1402);
    assert!(e.to_string().contains("resolver n1 decided to roll it back"), "{e}");
    assert_eq!(count(&shards.lines(), ": commit prepared"), 0);
    assert_eq!(count(&shards.lines(), ": rollback prepared"), 2);
}

#[tokio::test]
async fn one_shard_commits_in_one_phase_and_single_mode_refuses_a_second() {
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session(TxMode::Twopc);
    exec::run_shards(&tablets, &mut s, "customer", &["-80".to_string()], "delete from t", TabletType::Primary)
        .await
        .unwrap();
    exec::commit(&tablets, &mut s).await.unwrap();
    let lines = shards.lines();
    assert_eq!(count(&lines, ": prepare"), 0, "{lines:?}");
    assert_eq!(count(&lines, ": commit 1"), 1, "{lines:?}");

    let mut s = session(TxMode::Single);
    exec::run_shards(&tablets, &mut s, "customer", &["-80".to_string()], "delete from t", TabletType::Primary)
        .await
        .unwrap();
    let e = write_both(&tablets, &mut s).await.unwrap_err();
    assert!(e.to_string().contains("multi-db transaction attempted") && e.to_string().contains("customer/80-"), "{e}");
    assert_eq!(s.shard_txs.len(), 1, "nothing ran on the second shard");
    // Outside a transaction a statement may reach every shard.
    let mut s = session(TxMode::Single);
    s.in_transaction = false;
    write_both(&tablets, &mut s).await.unwrap();
}

#[tokio::test]
async fn an_autocommit_write_over_shards_is_atomic_in_twopc_only() {
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let both = ["-80".to_string(), "80-".to_string()];
    let mut s = session(TxMode::Twopc);
    s.in_transaction = false;
    exec::run_route(&tablets, &mut s, "customer", &both, "update customer set n = 1", TabletType::Primary)
        .await
        .unwrap();
    let lines = shards.lines();
    assert_eq!(count(&lines, " xa"), 2, "{lines:?}");
    assert_eq!(count(&lines, ": commit prepared"), 2, "{lines:?}");
    assert!(!s.in_transaction && s.shard_txs.is_empty());
    // Reads, and other modes, run on each shard as before.
    exec::run_route(&tablets, &mut s, "customer", &both, "select 1", TabletType::Primary).await.unwrap();
    let mut m = session(TxMode::Multi);
    m.in_transaction = false;
    exec::run_route(&tablets, &mut m, "customer", &both, "update customer set n = 2", TabletType::Primary)
        .await
        .unwrap();
    assert_eq!(count(&shards.lines(), ": begin"), 2, "only the twopc write began transactions");
}
