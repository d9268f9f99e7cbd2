//! One owner per node id and tablet alias: a node holds each under a lease in the JetStream
//! key-value bucket `TESSERA_LEASES` before it serves anything, and renews it while alive.
//!
//! A lease is a key (`node.<id>`, `tablet.<alias>`, see [`key`]) whose value names its holder (node id,
//! host, data dir, pid, incarnation). Claiming uses the bucket's create-if-absent; an entry
//! expires `TTL` after its last renewal (the bucket's max age), so a dead holder's leases free
//! themselves. The same owner restarting (same node id, host and data dir) takes its leases
//! over at once, with the next incarnation. Anyone else is refused with an error naming the
//! holder, and nothing of the holder's is touched. A holder that finds one of its leases
//! taken by another owner (it was cut off for longer than the TTL) stops: two processes never
//! serve one tablet.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

/// The bucket's name (its stream is `KV_TESSERA_LEASES`).
pub const BUCKET: &str = "TESSERA_LEASES";
/// How long a lease outlives its last renewal.
pub const TTL: Duration = Duration::from_secs(15);
/// How often a holder renews.
const RENEW_EVERY: Duration = Duration::from_secs(4);

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub node_id: String,
    pub host: String,
    pub data_dir: String,
    pub pid: u32,
    /// Counts the owner's successive claims (each restart takes the next).
    pub incarnation: u64,
}

impl Holder {
    /// This process, as a holder.
    pub fn this_process(node_id: &str, data_dir: &str) -> Holder {
        Holder {
            node_id: node_id.to_string(),
            host: crate::config::hostname(),
            data_dir: std::path::Path::new(data_dir)
                .canonicalize()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| data_dir.to_string()),
            pid: std::process::id(),
            incarnation: 1,
        }
    }

    /// Whether `other` is the same owner (an earlier incarnation of this node).
    pub fn same_owner(&self, other: &Holder) -> bool {
        self.node_id == other.node_id && self.host == other.host && self.data_dir == other.data_dir
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {} (pid {} on host {}, data dir {}, incarnation {})",
            self.node_id, self.pid, self.host, self.data_dir, self.incarnation
        )
    }
}

/// Why a lease could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{what} is held by {holder}; stop that process first, or give this one another name")]
    Held { what: String, holder: Holder },
    #[error("lease store: {0}")]
    Unavailable(String),
}

/// The leases this process holds, and the bucket they live in.
pub struct Leases {
    kv: kv::Store,
    me: Holder,
    /// (key, what it names, revision of our last write).
    held: Vec<(String, String, u64)>,
}

/// Opens the lease bucket, creating its stream on first use (by hand: async-nats's
/// `create_key_value` fails against nats-server 2.9).
pub async fn open(js: &jetstream::Context, replicas: usize, resize: bool) -> Result<kv::Store, LeaseError> {
    let unavailable = |e: &dyn std::fmt::Display| LeaseError::Unavailable(e.to_string());
    let cfg = stream::Config {
        max_age: TTL,
        ..kv_stream(BUCKET, "tessera leases: one owner per node id and tablet alias", replicas)
    };
    crate::topo::store::ensure_stream(js, cfg, resize).await.map_err(|e| unavailable(&e))?;
    js.get_key_value(BUCKET).await.map_err(|e| unavailable(&e))
}

/// The stream of a key-value bucket keeping one value per key, made by hand (async-nats's
/// `create_key_value` fails against nats-server 2.9).
pub fn kv_stream(bucket: &str, description: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// The lease key of a name: KV keys allow `-_=.a-zA-Z0-9/` only (and `.` only between
/// tokens), so any other byte, and `.` and `=` themselves, is written `=XX`: no two names share
/// a key and every name makes a valid one.
pub fn key(kind: &str, name: &str) -> String {
    let mut out = format!("{kind}.");
    for b in name.bytes() {
        match b {
            b'-' | b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            other => out.push_str(&format!("={other:02X}")),
        }
    }
    out
}

fn encode(h: &Holder) -> bytes::Bytes {
    serde_json::to_vec(h).unwrap_or_default().into()
}

impl Leases {
    pub fn new(kv: kv::Store, me: Holder) -> Leases {
        Leases { kv, me, held: Vec::new() }
    }

    /// Claims the lease on `key` (naming `what` in errors), or says who holds it.
    pub async fn claim(&mut self, key: &str, what: &str) -> Result<(), LeaseError> {
        let unavailable = |e: &dyn std::fmt::Display| LeaseError::Unavailable(format!("claiming {what}: {e}"));
        // A few rounds: the entry may expire or change between our create and our read.
        for _ in 0..3 {
            match self.kv.create(key, encode(&self.me)).await {
                Ok(rev) => {
                    self.held.push((key.to_string(), what.to_string(), rev));
                    return Ok(());
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(unavailable(&e)),
            }
            let Some(entry) = self.kv.entry(key).await.map_err(|e| unavailable(&e))? else { continue };
            let holder: Option<Holder> = serde_json::from_slice(&entry.value).ok();
            match holder {
                Some(h) if h.same_owner(&self.me) => {
                    // Our own earlier incarnation: take it over.
                    self.me.incarnation = self.me.incarnation.max(h.incarnation + 1);
                    match self.kv.update(key, encode(&self.me), entry.revision).await {
                        Ok(rev) => {
                            self.held.push((key.to_string(), what.to_string(), rev));
                            return Ok(());
                        }
                        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => return Err(unavailable(&e)),
                    }
                }
                Some(holder) => return Err(LeaseError::Held { what: what.to_string(), holder }),
                None => {
                    return Err(LeaseError::Unavailable(format!(
                        "{what}: the lease entry `{key}` is not a tessera lease; remove it from bucket {BUCKET}"
                    )))
                }
            }
        }
        Err(LeaseError::Unavailable(format!("{what}: the lease kept changing while claiming it; try again")))
    }

    /// This process as its leases name it.
    pub fn holder(&self) -> &Holder {
        &self.me
    }

    /// Renews every lease held, for as long as the process lives. A lease another owner took
    /// ends the process (after saying so): it must not serve what it no longer owns. A lease
    /// store that cannot be reached is retried; the lease outlives a short outage.
    pub fn renew_forever(mut self) {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if let Some(lost) = self.renew_once().await {
                    error!(lost = %lost, "a lease this node held now belongs to another owner; stopping");
                    std::process::exit(3);
                }
            }
        });
    }

    /// One round of renewals; `Some(description)` when a lease was lost to someone else.
    async fn renew_once(&mut self) -> Option<String> {
        let value = encode(&self.me);
        for (key, what, rev) in &mut self.held {
            match self.kv.update(key.as_str(), value.clone(), *rev).await {
                Ok(next) => *rev = next,
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    // Someone wrote it after our lease ran out; unless that was us, it is lost.
                    let now = self.kv.entry(key.as_str()).await.ok().flatten();
                    match now.as_ref().and_then(|e| serde_json::from_slice::<Holder>(&e.value).ok()) {
                        Some(h) if h == self.me => *rev = now.map_or(*rev, |e| e.revision),
                        Some(h) => return Some(format!("{what} now held by {h}")),
                        // Expired and unclaimed: claim it again.
                        None => match self.kv.create(key.as_str(), value.clone()).await {
                            Ok(next) => *rev = next,
                            Err(e) => warn!(lease = %key, error = %e, "cannot re-claim an expired lease; retrying"),
                        },
                    }
                }
                Err(e) => warn!(lease = %key, error = %e, "cannot renew a lease; retrying"),
            }
        }
        None
    }
}

/// A cluster-wide job that one node runs at a time (the backup scheduler): whoever holds its
/// lease runs it; another node takes over within [`TTL`] of the holder's death. Unlike the
/// leases of [`Leases`], losing it stops the job, not the process.
pub struct Singleton {
    kv: kv::Store,
    key: String,
    me: Holder,
    rev: Option<u64>,
}

impl Singleton {
    pub fn new(kv: kv::Store, name: &str, me: Holder) -> Singleton {
        Singleton { kv, key: key("singleton", name), me, rev: None }
    }

    /// Claims or renews the lease; true while this process holds it. Call it more often than
    /// [`TTL`] (every [`RENEW_EVERY`] is right).
    pub async fn tick(&mut self) -> bool {
        let value = encode(&self.me);
        self.rev = match self.rev {
            Some(rev) => self.kv.update(self.key.as_str(), value, rev).await.ok(),
            None => self.kv.create(self.key.as_str(), value).await.ok(),
        };
        self.rev.is_some()
    }

    pub const RENEW_EVERY: Duration = RENEW_EVERY;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_owner_is_the_same_node_id_host_and_data_dir() {
        let a = Holder { node_id: "n1".into(), host: "h".into(), data_dir: "/d1".into(), pid: 1, incarnation: 1 };
        let restarted = Holder { pid: 2, incarnation: 2, ..a.clone() };
        assert!(a.same_owner(&restarted));
        assert!(!a.same_owner(&Holder { data_dir: "/d2".into(), ..a.clone() }), "a second home");
        assert!(!a.same_owner(&Holder { host: "other".into(), ..a.clone() }));
        assert!(!a.same_owner(&Holder { node_id: "n2".into(), ..a.clone() }));
        assert_eq!(key("tablet", "zone1-100"), "tablet.zone1-100");
        assert_eq!(key("node", "zone1-web.1"), "node.zone1-web=2E1");
        assert_eq!(key("node", "a:b=c"), "node.a=3Ab=3Dc");
        let e = LeaseError::Held { what: "tablet zone1-100".into(), holder: a };
        assert!(e.to_string().contains("tablet zone1-100 is held by node n1 (pid 1 on host h, data dir /d1"), "{e}");
    }
}
