//! The transaction log: one record per undecided-then-decided distributed transaction in the
//! JetStream key-value bucket `TESSERA_TX` (stream `KV_TESSERA_TX`, replicated like the
//! topology). A decision is a create-if-absent, so the coordinator and the resolver can never
//! both record one; a concluded transaction's record is purged from the stream (no delete
//! marker is left behind, so the bucket holds only transactions still in flight or in doubt).

use std::sync::Mutex;

use async_nats::jetstream::{self, kv};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use super::{TxLog, TxLogError, TxRecord};
use crate::protocol::tablet::dtid_name;

pub const BUCKET: &str = "TESSERA_TX";

/// The log in NATS, opened at its first use (a gateway may start before any node made it).
pub struct KvTxLog {
    js: jetstream::Context,
    replicas: usize,
    kv: tokio::sync::OnceCell<kv::Store>,
}

impl KvTxLog {
    pub fn new(js: &jetstream::Context, replicas: usize) -> KvTxLog {
        KvTxLog { js: js.clone(), replicas, kv: tokio::sync::OnceCell::new() }
    }

    /// The bucket, its stream created on first use. On NATS before 2.10 a replicated stream
    /// does not enforce create-if-absent, so there the log keeps one copy (see
    /// `needs_whole_stream_cas`): a decision must never be recorded twice.
    pub async fn store(&self) -> Result<&kv::Store, TxLogError> {
        self.kv
            .get_or_try_init(|| async {
                let version = self.js.client().server_info().version;
                let replicas =
                    if crate::topo::store::needs_whole_stream_cas(&version, self.replicas) { 1 } else { self.replicas };
                let cfg = crate::lease::kv_stream(
                    BUCKET,
                    "tessera transaction log: commit decisions of distributed transactions",
                    replicas,
                );
                crate::topo::store::ensure_stream(&self.js, cfg, false).await.map_err(|e| TxLogError(e.to_string()))?;
                self.js.get_key_value(BUCKET).await.map_err(|e| TxLogError(format!("opening {BUCKET}: {e}")))
            })
            .await
    }

    async fn read(&self, dtid: u64) -> Result<Option<TxRecord>, TxLogError> {
        let key = dtid_name(dtid);
        match self.store().await?.get(&key).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| TxLogError(format!("record {key} does not decode: {e}"))),
            Ok(None) => Ok(None),
            Err(e) => Err(TxLogError(format!("reading {key}: {e}"))),
        }
    }
}

impl TxLog for KvTxLog {
    fn decide(&self, record: TxRecord) -> BoxFuture<'_, Result<TxRecord, TxLogError>> {
        async move {
            let key = dtid_name(record.dtid);
            let bytes = serde_json::to_vec(&record).map_err(|e| TxLogError(e.to_string()))?;
            match self.store().await?.create(&key, bytes.into()).await {
                Ok(_) => Ok(record),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => match self.read(record.dtid).await? {
                    Some(first) => Ok(first),
                    None => Err(TxLogError(format!("{key} was recorded and removed while deciding it"))),
                },
                Err(e) => Err(TxLogError(format!("recording {key}: {e}"))),
            }
        }
        .boxed()
    }

    fn get(&self, dtid: u64) -> BoxFuture<'_, Result<Option<TxRecord>, TxLogError>> {
        self.read(dtid).boxed()
    }

    fn remove(&self, dtid: u64) -> BoxFuture<'_, Result<(), TxLogError>> {
        async move {
            let key = dtid_name(dtid);
            let stream = self
                .js
                .get_stream(format!("KV_{BUCKET}"))
                .await
                .map_err(|e| TxLogError(format!("opening KV_{BUCKET}: {e}")))?;
            stream
                .purge()
                .filter(format!("$KV.{BUCKET}.{key}"))
                .await
                .map(|_| ())
                .map_err(|e| TxLogError(format!("removing {key}: {e}")))
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TxRecord>, TxLogError>> {
        async move {
            let mut keys =
                self.store().await?.keys().await.map_err(|e| TxLogError(format!("listing {BUCKET}: {e}")))?;
            let mut out = Vec::new();
            while let Some(key) = keys.next().await {
                let key = key.map_err(|e| TxLogError(format!("listing {BUCKET}: {e}")))?;
                let Some(dtid) = crate::protocol::tablet::parse_dtid(&key) else { continue };
                if let Some(r) = self.read(dtid).await? {
                    out.push(r);
                }
            }
            Ok(out)
        }
        .boxed()
    }
}

/// The log in memory (the engine's tests).
#[derive(Default)]
pub struct MemoryTxLog {
    records: Mutex<std::collections::BTreeMap<u64, TxRecord>>,
}

impl TxLog for MemoryTxLog {
    fn decide(&self, record: TxRecord) -> BoxFuture<'_, Result<TxRecord, TxLogError>> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let stands = records.entry(record.dtid).or_insert(record).clone();
        futures::future::ready(Ok(stands)).boxed()
    }

    fn get(&self, dtid: u64) -> BoxFuture<'_, Result<Option<TxRecord>, TxLogError>> {
        let r = self.records.lock().unwrap_or_else(|e| e.into_inner()).get(&dtid).cloned();
        futures::future::ready(Ok(r)).boxed()
    }

    fn remove(&self, dtid: u64) -> BoxFuture<'_, Result<(), TxLogError>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(&dtid);
        futures::future::ready(Ok(())).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TxRecord>, TxLogError>> {
        let all = self.records.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        futures::future::ready(Ok(all)).boxed()
    }
}
