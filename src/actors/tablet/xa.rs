//! A shard's part in distributed transactions (`transaction_mode = twopc`): its branch is an
//! XA transaction of MariaDB (`XA START` at begin), prepared when the coordinator asks
//! (`XA PREPARE`, which MariaDB keeps across a crash and replicates to the shard's replicas),
//! then committed or rolled back as the coordinator's recorded decision says. A prepared branch
//! outlives its connection: after a restart or a reparent it is found with `XA RECOVER` and
//! ended by its XA id on the shard's primary.
//!
//! Also here: the lock waits between the tablet's transactions, for the gateway's cross-shard
//! deadlock detection.

use std::sync::Arc;

use mysql_async::Conn;
use tracing::{info, warn};

use super::dbconn::{exec, run};
use super::query::{QueryService, TxSlot};
use crate::protocol::tablet::{parse_dtid, xa_id, LockWait, QueryResponse, TabletError};
use crate::protocol::topology::TabletType;

/// MariaDB's `XAER_NOTA`: no branch with that XA id (it was committed or rolled back already).
const XAER_NOTA: u16 = 1397;

/// Ends an XA branch on its own connection: a prepared one as decided, an active one in one
/// phase (commit) or rolled back.
pub(super) async fn end_branch(conn: &mut Conn, xid: &str, prepared: bool, commit: bool) -> Result<(), TabletError> {
    if prepared {
        return exec(conn, &format!("XA {} {xid}", if commit { "COMMIT" } else { "ROLLBACK" })).await;
    }
    // XA END fails when MariaDB already rolled the branch back (a deadlock, a timeout):
    // then only the rollback is left to do.
    let ended = exec(conn, &format!("XA END {xid}")).await;
    if commit {
        ended?;
        exec(conn, &format!("XA COMMIT {xid} ONE PHASE")).await
    } else {
        exec(conn, &format!("XA ROLLBACK {xid}")).await
    }
}

impl QueryService {
    fn xid(&self, dtid: u64) -> String {
        xa_id(dtid, &self.state.keyspace, &self.state.shard)
    }

    /// Only the shard's current primary prepares or ends branches by their XA id: a demoted
    /// primary (now a replica) gets those from its new primary through replication.
    fn check_primary(&self) -> Result<(), TabletError> {
        let tablet_type = self.state.tablet_type();
        if tablet_type != TabletType::Primary {
            return Err(TabletError::ReadOnly { alias: self.state.alias.clone(), tablet_type });
        }
        if let Some((primary, term)) = self.state.fence.replaced_by(&self.state.alias) {
            return Err(TabletError::NotPrimary { alias: self.state.alias.clone(), primary, term });
        }
        Ok(())
    }

    /// Prepares transaction `id`'s branch (`XA END`, `XA PREPARE`). On failure the branch is
    /// rolled back and the transaction is gone: the coordinator rolls back the others.
    pub async fn prepare(&self, id: u64) -> Result<QueryResponse, TabletError> {
        let slot = self.tx(id)?;
        let mut tx = slot.lock().await;
        let Some((xid, _)) = tx.xa.clone() else {
            return Err(TabletError::BadRequest(format!(
                "transaction {id} on tablet {} is not a branch of a distributed transaction (it began outside \
                 transaction_mode twopc); commit it instead",
                self.state.alias
            )));
        };
        if tx.prepared {
            return Ok(QueryResponse::Done);
        }
        // Ended while this waited for its lock (rolled back by the reaper or a role change).
        if !self.still_open(id, &slot) {
            return Err(self.tx_gone(id));
        }
        self.check_primary()?;
        let conn = tx.conn.as_mut().ok_or_else(|| self.tx_gone(id))?;
        let prepared = match exec(conn, &format!("XA END {xid}")).await {
            Ok(()) => exec(conn, &format!("XA PREPARE {xid}")).await,
            Err(e) => Err(e),
        };
        match prepared {
            Ok(()) => {
                tx.prepared = true;
                Ok(QueryResponse::Done)
            }
            Err(e) => {
                self.forget(id, &slot);
                if let Some(mut conn) = tx.conn.take() {
                    let _ = exec(&mut conn, &format!("XA ROLLBACK {xid}")).await;
                    let _ = conn.disconnect().await;
                }
                Err(e)
            }
        }
    }

    /// Commits (`commit`) or rolls back the shard's branch of `dtid`: on the connection that
    /// holds it when this tablet still has it, else by its XA id (only on the primary). A
    /// branch that no longer exists was ended already: done.
    pub async fn conclude_branch(
        &self,
        id: Option<u64>,
        dtid: u64,
        commit: bool,
    ) -> Result<QueryResponse, TabletError> {
        if let Some((id, slot)) = self.holder_of(id, dtid) {
            let mut tx = slot.lock().await;
            self.forget(id, &slot);
            if let (Some(mut conn), Some((xid, _))) = (tx.conn.take(), tx.xa.clone()) {
                let prepared = tx.prepared;
                let done = end_branch(&mut conn, &xid, prepared, commit).await;
                if done.is_err() {
                    let _ = conn.disconnect().await;
                }
                return done.map(|()| QueryResponse::Done);
            }
        }
        self.check_primary()?;
        let xid = self.xid(dtid);
        let mut conn = self.dba_conn().await?;
        match exec(&mut conn, &format!("XA {} {xid}", if commit { "COMMIT" } else { "ROLLBACK" })).await {
            Ok(()) => {
                info!(tablet = %self.state.alias, xid, commit, "distributed transaction branch concluded by its XA id");
                Ok(QueryResponse::Done)
            }
            // Unknown: ended already, unless a connection still holds it prepared (MariaDB
            // ends a branch by its id only once no connection holds it).
            Err(TabletError::Mysql { code: XAER_NOTA, .. }) => match self.recover_prepared().await? {
                QueryResponse::Prepared { dtids } if dtids.contains(&dtid) => Err(TabletError::Internal(format!(
                    "branch {xid} is prepared but held by a connection this tablet does not know; retry"
                ))),
                _ => Ok(QueryResponse::Done),
            },
            Err(e) => Err(e),
        }
    }

    /// The open transaction holding `dtid`'s branch: `id` if it is that, else found by dtid.
    fn holder_of(&self, id: Option<u64>, dtid: u64) -> Option<(u64, Arc<TxSlot>)> {
        let txs = self.txs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((id, slot)) = id.and_then(|id| txs.get(&id).map(|s| (id, s))) {
            if slot.dtid == Some(dtid) {
                return Some((id, slot.clone()));
            }
        }
        txs.iter().find(|(_, s)| s.dtid == Some(dtid)).map(|(id, s)| (*id, s.clone()))
    }

    /// Closes transaction `id`'s connection if its branch is prepared (it stays prepared in
    /// MariaDB, to be ended by its XA id); false for any other transaction.
    pub(super) async fn detach_if_prepared(&self, id: u64) -> bool {
        let Ok(slot) = self.tx(id) else { return false };
        let mut tx = slot.lock().await;
        if !tx.prepared || !self.forget(id, &slot) {
            return false;
        }
        if let Some(conn) = tx.conn.take() {
            if let Err(e) = conn.disconnect().await {
                warn!(tablet = %self.state.alias, error = %e, "closing a prepared branch's connection");
            }
        }
        true
    }

    /// The distributed transactions with a branch of this shard prepared on its server.
    pub async fn recover_prepared(&self) -> Result<QueryResponse, TabletError> {
        let mut conn = self.dba_conn().await?;
        let result = run(&mut conn, "XA RECOVER", 1_000_000).await?;
        let own = format!("{}/{}", self.state.keyspace, self.state.shard);
        let number = |v: &Option<Vec<u8>>| {
            v.as_deref().and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse::<usize>().ok())
        };
        let mut dtids = Vec::new();
        for row in &result.rows {
            // formatID, gtrid_length, bqual_length, data (gtrid then bqual).
            let (Some(g), Some(b), Some(Some(data))) =
                (row.get(1).and_then(number), row.get(2).and_then(number), row.get(3))
            else {
                continue;
            };
            let (Some(gtrid), Some(bqual)) = (data.get(..g), data.get(g..g + b)) else { continue };
            if bqual != own.as_bytes() {
                continue;
            }
            if let Some(dtid) = std::str::from_utf8(gtrid).ok().and_then(parse_dtid) {
                dtids.push(dtid);
            }
        }
        Ok(QueryResponse::Prepared { dtids })
    }

    /// Which statements wait for locks held by which of the tablet's transactions (InnoDB's
    /// lock waits, statements named by the gateway's query ids).
    pub async fn lock_waits(&self) -> Result<QueryResponse, TabletError> {
        let pairs = self.thread_waits().await?;
        let by_thread: std::collections::HashMap<u32, u64> =
            self.txs.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(id, s)| (s.thread, *id)).collect();
        let queries = self.running.by_thread();
        let waits = pairs
            .iter()
            .map(|(waiting, blocking)| LockWait {
                waiting_query: queries.get(waiting).copied().unwrap_or(0),
                blocking: by_thread.get(blocking).copied().unwrap_or(0),
                blocking_query: queries.get(blocking).copied().unwrap_or(0),
            })
            .filter(|w| w.waiting_query != 0 && (w.blocking != 0 || w.blocking_query != 0))
            .collect();
        Ok(QueryResponse::LockWaits { waits })
    }

    /// InnoDB's lock waits as (waiting thread, blocking thread), read at most every
    /// [`LOCK_WAITS_EVERY`] (InnoDB keeps serving its old copy to readers closer together).
    async fn thread_waits(&self) -> Result<Arc<Vec<(u32, u32)>>, TabletError> {
        if let Some((at, pairs)) = self.lock_waits.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() < LOCK_WAITS_EVERY {
                return Ok(pairs.clone());
            }
        }
        let mut conn = self.dba_conn().await?;
        let result = run(
            &mut conn,
            "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id FROM information_schema.INNODB_LOCK_WAITS w \
             JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
             JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id",
            100_000,
        )
        .await?;
        let thread = |v: Option<&Option<Vec<u8>>>| {
            v.and_then(|v| v.as_deref()).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse::<u32>().ok())
        };
        let pairs: Arc<Vec<(u32, u32)>> =
            Arc::new(result.rows.iter().filter_map(|row| Some((thread(row.first())?, thread(row.get(1))?))).collect());
        *self.lock_waits.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), pairs.clone()));
        Ok(pairs)
    }
}

/// How often a tablet reads InnoDB's lock waits: InnoDB refreshes them only for a reader
/// more than 100 ms after the previous one.
const LOCK_WAITS_EVERY: std::time::Duration = std::time::Duration::from_millis(110);
