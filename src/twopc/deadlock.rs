//! Cross-shard deadlock detection. Each InnoDB finds the deadlocks inside its own server; one
//! that spans shards (session A holds a row on shard 1 and waits on shard 2, where B holds a
//! row while it waits on shard 1) no single server can see, and both would wait out
//! `innodb_lock_wait_timeout`.
//!
//! The gateway knows which tablet transactions each of its sessions holds. When two or more
//! of its sessions inside transactions have had a statement running for `after`, it asks the
//! tablets they hold transactions on for their lock waits (statement waiting, by the
//! gateway's query id -> transaction holding the lock, by the tablet's id), builds the
//! wait-for graph between its sessions, and on a cycle rolls back the youngest transaction
//! in it at once: its client gets MySQL's 1213, the others go on.
//!
//! Cycles through sessions of other gateways are not seen (each gateway knows only its own);
//! those still end by the lock wait timeout.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, info};

use crate::engine::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::frontend::sessions::Sessions;
use crate::protocol::tablet::{QueryRequest, QueryResponse};

/// A session's transaction, as the detector sees it.
#[derive(Debug, Default, Clone)]
pub struct TxWatch {
    /// The client statement running (its query id).
    pub query_id: u64,
    /// The tablet transactions it holds: (tablet alias, transaction id).
    pub holdings: Vec<(String, u64)>,
    /// When the transaction first held a tablet transaction.
    pub began: Option<Instant>,
    /// The statement runs inside a transaction (the session's or its own).
    pub in_transaction: bool,
}

/// Records what the session holds as its next statement starts (or its transaction ends).
pub fn watch(slot: &Mutex<TxWatch>, s: &SessionState) {
    let mut w = slot.lock().unwrap_or_else(|e| e.into_inner());
    w.query_id = s.query_id;
    // In twopc an autocommit write over several shards is a transaction of its own too.
    w.in_transaction = s.in_transaction || !s.autocommit || s.transaction_mode == super::TxMode::Twopc;
    // Unchanged most of the time (the same transactions as the last statement): no copy then.
    let same = w.holdings.len() == s.shard_txs.len()
        && w.holdings.iter().zip(s.shard_txs.values()).all(|(a, b)| a.1 == b.1 && a.0 == b.0);
    if !same {
        w.holdings.clear();
        w.holdings.extend(s.shard_txs.values().cloned());
    }
    if w.holdings.is_empty() {
        w.began = None;
    } else if w.began.is_none() {
        w.began = Some(Instant::now());
    }
}

/// A cycle in the wait-for graph `edges` (waiter -> holder), as its nodes; the first found.
pub fn find_cycle(edges: &BTreeMap<u32, BTreeSet<u32>>) -> Option<Vec<u32>> {
    // Depth-first search with colours: 1 on the path, 2 done.
    fn visit(
        n: u32,
        edges: &BTreeMap<u32, BTreeSet<u32>>,
        colour: &mut HashMap<u32, u8>,
        path: &mut Vec<u32>,
    ) -> Option<Vec<u32>> {
        colour.insert(n, 1);
        path.push(n);
        for &m in edges.get(&n).into_iter().flatten() {
            match colour.get(&m).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|&p| p == m).unwrap_or(0);
                    return Some(path[start..].to_vec());
                }
                0 => {
                    if let Some(c) = visit(m, edges, colour, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        colour.insert(n, 2);
        None
    }
    let mut colour = HashMap::new();
    for &n in edges.keys() {
        if colour.get(&n).copied().unwrap_or(0) == 0 {
            let mut path = Vec::new();
            if let Some(c) = visit(n, edges, &mut colour, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

/// Runs the detector for this gateway's sessions: a look every `after / 2` while two or more
/// sessions in transactions have had a statement running for `after` (each tablet reads
/// InnoDB's lock waits at most every 110 ms and answers from that copy meanwhile).
pub fn spawn(sessions: Arc<Sessions>, tc: ShardsRef, after: Duration) {
    if after.is_zero() {
        return;
    }
    let every = (after / 2).max(Duration::from_millis(5));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            look(&sessions, &tc, after).await;
        }
    });
}

async fn look(sessions: &Sessions, tc: &ShardsRef, after: Duration) {
    // Sessions waiting long enough, inside transactions: (id, query id, holdings, began).
    let waiting: Vec<(u32, TxWatch, Arc<crate::frontend::sessions::Signals>)> = sessions
        .all()
        .into_iter()
        .filter(|(_, sig)| sig.running_for().is_some_and(|d| d >= after))
        .filter_map(|(id, sig)| {
            let w = sig.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // A transaction whose first statement waits holds no lock yet, but others may
            // queue behind it: it can close a cycle too.
            (w.in_transaction && w.query_id != 0).then_some((id, w, sig))
        })
        .collect();
    if waiting.len() < 2 {
        return;
    }
    let by_query: HashMap<u64, u32> = waiting.iter().map(|(id, w, _)| (w.query_id, *id)).collect();
    let mut holder: HashMap<(&str, u64), u32> = HashMap::new();
    for (id, w, _) in &waiting {
        for (alias, tx) in &w.holdings {
            holder.insert((alias.as_str(), *tx), *id);
        }
    }
    let tablets: BTreeSet<&str> = holder.keys().map(|(a, _)| *a).collect();
    let asks = tablets.iter().map(|a| tc.tablet(a, QueryRequest::LockWaits));
    let mut edges: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (alias, reply) in tablets.iter().zip(futures::future::join_all(asks).await) {
        let Ok(QueryResponse::LockWaits { waits }) = reply else { continue };
        for w in waits {
            let blocker = holder.get(&(*alias, w.blocking)).or_else(|| by_query.get(&w.blocking_query));
            if let (Some(&a), Some(&b)) = (by_query.get(&w.waiting_query), blocker) {
                if a != b {
                    edges.entry(a).or_default().insert(b);
                }
            }
        }
    }
    debug!(sessions = waiting.len(), edges = edges.len(), "deadlock detector looked");
    let Some(cycle) = find_cycle(&edges) else { return };
    // The youngest transaction in the cycle gives way (it has done the least work; one that
    // holds nothing yet is the youngest).
    let victim = waiting
        .iter()
        .filter(|(id, _, _)| cycle.contains(id))
        .max_by_key(|(id, w, _)| (w.began.is_none(), w.began, *id))
        .map(|(id, w, sig)| (*id, w.query_id, sig.clone()));
    if let Some((id, query_id, sig)) = victim {
        info!(session = id, cycle = ?cycle, "deadlock across shards: rolling back the youngest transaction");
        // Tied to the statement that waits: if it ended meanwhile, nothing happens to the next.
        sig.deadlock_victim.store(query_id, Ordering::SeqCst);
        crate::metrics::metrics().deadlocks.inc();
        sig.interrupt.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(u32, u32)]) -> BTreeMap<u32, BTreeSet<u32>> {
        let mut g: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(*a).or_default().insert(*b);
        }
        g
    }

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        assert_eq!(find_cycle(&graph(&[(1, 2), (2, 3)])), None);
        assert_eq!(find_cycle(&graph(&[(1, 2), (2, 1)])), Some(vec![1, 2]));
        assert_eq!(find_cycle(&graph(&[(5, 1), (1, 2), (2, 3), (3, 1)])), Some(vec![1, 2, 3]));
        // Two waiters on one holder: no cycle.
        assert_eq!(find_cycle(&graph(&[(1, 3), (2, 3)])), None);
        assert_eq!(find_cycle(&BTreeMap::new()), None);
    }
}
