//! The topology and event streams on JetStream.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind, message::PublishMessage, stream};
use futures::{Stream, StreamExt};
use tracing::warn;

use crate::protocol::envelope::Envelope;
use crate::protocol::events::ClusterEvent;
use crate::protocol::subjects;
use crate::protocol::topology::TopoCommit;
use crate::topo::state::{project_commit, Topology};
use crate::topo::TopoError;

/// How long cluster events are kept, and how much of them.
const EVENTS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
const EVENTS_MAX_BYTES: i64 = 256 * 1024 * 1024;
/// Window in which JetStream drops a message whose id it has already stored.
const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// Outcome of a conditional append.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone appended to the subject since `expected`: re-read and retry.
    #[error("the aggregate changed since it was read")]
    Conflict,
    #[error(transparent)]
    Other(#[from] TopoError),
}

/// A commit read back from the stream.
#[derive(Debug, Clone)]
pub struct StoredCommit {
    pub seq: u64,
    pub subject: String,
    pub sender: String,
    pub time_ms: u64,
    pub commit: TopoCommit,
}

/// Decodes one stored topology message; one that does not decode becomes an empty commit
/// (logged), so that sequences stay contiguous for the folds.
fn decode_commit(seq: u64, subject: &str, payload: &[u8]) -> StoredCommit {
    match Envelope::<TopoCommit>::decode(payload) {
        Ok(env) => StoredCommit {
            seq,
            subject: subject.to_string(),
            sender: env.sender,
            time_ms: env.time_ms,
            commit: env.body,
        },
        Err(e) => {
            warn!(subject, seq, error = %e, "skipping topology message that does not decode");
            StoredCommit {
                seq,
                subject: subject.to_string(),
                sender: String::new(),
                time_ms: 0,
                commit: TopoCommit { command: String::new(), events: Vec::new() },
            }
        }
    }
}

/// Handle on the `TESSERA_TOPO` and `TESSERA_EVENTS` streams.
#[derive(Clone)]
pub struct TopoStore {
    js: jetstream::Context,
    topo: stream::Stream,
    sender: String,
    /// Guard appends with the whole stream's last sequence instead of the subject's: NATS
    /// before 2.10 does not enforce `Nats-Expected-Last-Subject-Sequence` on a replicated
    /// stream (measured on 2.9.10 with three replicas: of four concurrent appends expecting the
    /// same sequence, several won in every one of 50 rounds; the stream-wide check held).
    whole_stream_cas: bool,
}

/// Whether `version` (the server's) needs [`TopoStore`]'s stream-wide guard on a stream with
/// `replicas` copies.
pub fn needs_whole_stream_cas(version: &str, replicas: usize) -> bool {
    replicas > 1 && crate::cli::nats_version(version).is_none_or(|v| v < (2, 10))
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> TopoError {
    TopoError::Unavailable(format!("{what}: {e}"))
}

/// Opens stream `cfg.name`, creating it from `cfg` on first use; with `resize`, an existing
/// stream whose replica count differs from `cfg`'s is changed to it (the rest of its settings
/// kept). Only nodes resize: a command that merely reads (`events`) leaves streams as they are.
pub async fn ensure_stream(
    js: &jetstream::Context,
    cfg: stream::Config,
    resize: bool,
) -> Result<stream::Stream, String> {
    let wanted = cfg.num_replicas;
    let mut s = js.get_or_create_stream(cfg).await.map_err(|e| e.to_string())?;
    if !resize {
        return Ok(s);
    }
    let current = s.info().await.map_err(|e| e.to_string())?.config.clone();
    if current.num_replicas != wanted {
        let name = current.name.clone();
        let from = current.num_replicas;
        js.update_stream(stream::Config { num_replicas: wanted, ..current })
            .await
            .map_err(|e| format!("changing the replicas of {name} from {from} to {wanted}: {e}"))?;
        tracing::info!(stream = %name, from, to = wanted, "stream replica count changed");
        s = js.get_stream(&name).await.map_err(|e| e.to_string())?;
    }
    Ok(s)
}

impl TopoStore {
    /// Opens the streams, creating missing ones (replicas as [`crate::nats::stream_replicas`]
    /// chooses by default) and leaving existing ones as they are. `sender` names this writer
    /// in envelopes.
    pub async fn open(client: async_nats::Client, sender: impl Into<String>) -> Result<Self, TopoError> {
        let replicas = crate::nats::stream_replicas(&client, None);
        Self::open_streams(client, sender, replicas, false).await
    }

    /// Opens the streams with `replicas` copies each, creating them or changing their replica
    /// count to it (what a node does at start).
    pub async fn open_with_replicas(
        client: async_nats::Client,
        sender: impl Into<String>,
        replicas: usize,
    ) -> Result<Self, TopoError> {
        Self::open_streams(client, sender, replicas, true).await
    }

    async fn open_streams(
        client: async_nats::Client,
        sender: impl Into<String>,
        replicas: usize,
        resize: bool,
    ) -> Result<Self, TopoError> {
        let version = client.server_info().version;
        let js = jetstream::new(client);
        let mut topo = ensure_stream(
            &js,
            stream::Config {
                name: subjects::TOPO_STREAM.into(),
                description: Some("tessera topology events (event-sourced; never trimmed)".into()),
                subjects: vec![subjects::topo_all()],
                storage: stream::StorageType::File,
                allow_direct: true,
                deny_delete: true,
                deny_purge: true,
                duplicate_window: DEDUP_WINDOW,
                num_replicas: replicas,
                ..Default::default()
            },
            resize,
        )
        .await
        .map_err(|e| unavailable("opening stream TESSERA_TOPO", e))?;
        ensure_stream(
            &js,
            stream::Config {
                name: subjects::EVENTS_STREAM.into(),
                description: Some("tessera cluster events".into()),
                subjects: vec![subjects::events_all()],
                storage: stream::StorageType::File,
                max_age: EVENTS_MAX_AGE,
                max_bytes: EVENTS_MAX_BYTES,
                duplicate_window: DEDUP_WINDOW,
                num_replicas: replicas,
                ..Default::default()
            },
            resize,
        )
        .await
        .map_err(|e| unavailable("opening stream TESSERA_EVENTS", e))?;
        let copies = topo.info().await.map(|i| i.config.num_replicas).unwrap_or(replicas);
        let whole_stream_cas = needs_whole_stream_cas(&version, copies);
        if whole_stream_cas {
            warn!(
                nats_version = %version,
                replicas = copies,
                "this NATS does not enforce per-subject expected sequences on replicated streams: every topology write \
                 now checks the whole stream (correct, but concurrent writes of different keyspaces retry); run NATS 2.10 or later"
            );
        }
        Ok(TopoStore { js, topo, sender: sender.into(), whole_stream_cas })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The stream sequence of the last commit on `subject`, 0 if there is none.
    pub async fn last_seq_of(&self, subject: &str) -> Result<u64, TopoError> {
        match self.topo.get_last_raw_message_by_subject(subject).await {
            Ok(msg) => Ok(msg.sequence),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(e) => Err(unavailable(&format!("reading the last event of {subject}"), e)),
        }
    }

    /// The sequence of the last commit in the whole stream.
    pub async fn last_seq(&self) -> Result<u64, TopoError> {
        let info = self.topo.get_info().await.map_err(|e| unavailable("reading TESSERA_TOPO info", e))?;
        Ok(info.state.last_sequence)
    }

    /// Appends `commit` to `subject` if the subject's last sequence is still `expected` (on a
    /// NATS that cannot check that, if the whole stream's is still `seen`, the sequence the
    /// commit was planned at).
    pub async fn append(
        &self,
        subject: &str,
        expected: u64,
        seen: u64,
        commit: &TopoCommit,
    ) -> Result<u64, AppendError> {
        let env = Envelope::new(self.sender.clone(), commit);
        let payload = env.encode().map_err(TopoError::from)?;
        let publish = PublishMessage::build().payload(payload.into()).message_id(&env.id);
        let publish = if self.whole_stream_cas {
            publish.expected_last_sequence(seen)
        } else {
            publish.expected_last_subject_sequence(expected)
        };
        let ack = self
            .js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(|e| unavailable(&format!("appending to {subject}"), e))?;
        match ack.await {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(AppendError::Conflict),
            Err(e) => Err(unavailable(&format!("appending to {subject}"), e).into()),
        }
    }

    /// Publishes a cluster event on its subject; it is kept in `TESSERA_EVENTS`. `dedup_id`
    /// makes repeated publishes of the same fact (by several nodes, or on retry) count once.
    pub async fn publish_event(&self, event: &ClusterEvent, dedup_id: &str) -> Result<(), TopoError> {
        let subject = subjects::event(&event.kind, &event.name);
        let payload = Envelope::new(self.sender.clone(), event).encode()?;
        let publish = PublishMessage::build().payload(payload.into()).message_id(dedup_id);
        let ack = self
            .js
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| unavailable(&format!("publishing {subject}"), e))?;
        ack.await.map_err(|e| unavailable(&format!("publishing {subject}"), e))?;
        Ok(())
    }

    /// Reads commits from `from_seq` on, live. Undecodable messages are skipped with a warning.
    pub async fn follow(
        &self,
        from_seq: u64,
    ) -> Result<impl Stream<Item = Result<StoredCommit, TopoError>> + Send + 'static, TopoError> {
        let deliver_policy = if from_seq <= 1 {
            consumer::DeliverPolicy::All
        } else {
            consumer::DeliverPolicy::ByStartSequence { start_sequence: from_seq }
        };
        let consumer = self
            .topo
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subjects::topo_all(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("creating a TESSERA_TOPO consumer", e))?;
        let messages = consumer.messages().await.map_err(|e| unavailable("reading TESSERA_TOPO", e))?;
        Ok(messages.filter_map(|item| async move {
            let msg = match item {
                Ok(msg) => msg,
                Err(e) => return Some(Err(unavailable("reading TESSERA_TOPO", e))),
            };
            let seq = match msg.info() {
                Ok(info) => info.stream_sequence,
                Err(e) => return Some(Err(unavailable("reading TESSERA_TOPO metadata", e))),
            };
            Some(Ok(decode_commit(seq, &msg.subject, &msg.payload)))
        }))
    }

    /// Reads commits `from..=to` one by one from the stream's leader, without a consumer: the
    /// follower's way round a consumer that stopped delivering. A sequence the stream no longer
    /// holds (purged) is skipped.
    pub async fn read_range(&self, from: u64, to: u64) -> Result<Vec<StoredCommit>, TopoError> {
        let mut out = Vec::with_capacity(to.saturating_sub(from).saturating_add(1).min(1024) as usize);
        for seq in from..=to {
            match self.topo.get_raw_message(seq).await {
                Ok(msg) => out.push(decode_commit(seq, &msg.subject, &msg.payload)),
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => continue,
                Err(e) => return Err(unavailable(&format!("reading TESSERA_TOPO sequence {seq}"), e)),
            }
        }
        Ok(out)
    }

    /// Folds the stream from the start, up to and including `upto` (or to its current end).
    pub async fn load(&self, upto: Option<u64>) -> Result<Topology, TopoError> {
        let last = self.last_seq().await?;
        let target = upto.map_or(last, |u| u.min(last));
        self.load_from(Topology::default(), target).await
    }

    /// Folds the commits after `topo.seq` into it, up to and including `target` (a checkpoint
    /// carried forward: time travel from the nearest topology already folded).
    pub async fn load_from(&self, mut topo: Topology, target: u64) -> Result<Topology, TopoError> {
        if target <= topo.seq {
            return Ok(topo);
        }
        let commits = self.follow(topo.seq + 1).await?;
        futures::pin_mut!(commits);
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                item = commits.next() => match item {
                    Some(Ok(c)) => {
                        if c.seq > target {
                            break;
                        }
                        project_commit(&mut topo, c.seq, &c.commit);
                        if c.seq >= target {
                            break;
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(TopoError::Unavailable("TESSERA_TOPO consumer ended".into())),
                },
                _ = &mut deadline => return Err(TopoError::Unavailable(format!("timed out replaying TESSERA_TOPO to sequence {target}"))),
            }
        }
        Ok(topo)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_servers_with_replicas_guard_the_whole_stream() {
        use super::needs_whole_stream_cas as needs;
        assert!(needs("2.9.10", 3));
        assert!(!needs("2.9.10", 1));
        assert!(!needs("2.10.0", 3));
        assert!(!needs("2.15.1", 3));
        assert!(needs("unknown", 3), "an unreadable version is treated as old");
    }
}
