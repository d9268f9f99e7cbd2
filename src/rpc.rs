//! One typed request/reply over NATS. Each exchange is a type implementing [`Rpc`]: it binds
//! the request and reply types and how they travel, so which reply goes with a subject is
//! checked by the compiler, not convention. [`RpcClient::call`] is the one client and
//! [`receive`] the one way a server decodes a request (once) and holds its [`Replier`].
//!
//! Failures keep their kinds apart ([`RpcError`]): no answer in time (the request may have
//! run), nobody serving the subject (it did not run), an answer that does not decode, or a
//! request that could not be sent. Errors the server reports are part of each reply type
//! (`RemoteError`, `TabletError`, ...), with their codes.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::envelope::{CodecError, Envelope};

/// A request/reply exchange.
pub trait Rpc: Send + Sync + 'static {
    type Request: Serialize + DeserializeOwned + Send + Sync;
    type Reply: Serialize + DeserializeOwned + Send + Sync;
    /// What the exchange is, for messages ("admin command", "tablet management" ...).
    const WHAT: &'static str;

    /// Request bytes; by default a versioned MessagePack envelope.
    fn encode_request(sender: &str, req: &Self::Request) -> Result<Vec<u8>, CodecError> {
        Envelope::new(sender, req).encode()
    }

    fn decode_request(bytes: &[u8]) -> Result<Self::Request, CodecError> {
        Envelope::<Self::Request>::decode(bytes).map(|e| e.body)
    }

    fn encode_reply(sender: &str, reply: &Self::Reply) -> Result<Vec<u8>, CodecError> {
        Envelope::new(sender, reply).encode()
    }

    fn decode_reply(bytes: &[u8]) -> Result<Self::Reply, CodecError> {
        Envelope::<Self::Reply>::decode(bytes).map(|e| e.body)
    }

    /// The reply to a request that does not decode.
    fn bad_request(error: CodecError) -> Self::Reply;
}

/// Why a call got no reply to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The request went out, no answer came: it may or may not have run.
    #[error("no answer to the {what} on {subject} within {after_ms} ms")]
    TimedOut { what: &'static str, subject: String, after_ms: u64 },
    /// Nobody serves the subject: the request did not run.
    #[error("nobody serves the {what} on {subject}")]
    NoResponders { what: &'static str, subject: String },
    #[error("the answer to the {what} on {subject} does not decode: {message}")]
    Undecodable { what: &'static str, subject: String, message: String },
    /// The request could not be encoded or sent.
    #[error("the {what} on {subject} could not be sent: {message}")]
    Failed { what: &'static str, subject: String, message: String },
}

/// Calls any [`Rpc`] over one NATS connection.
#[derive(Clone)]
pub struct RpcClient {
    client: async_nats::Client,
    sender: String,
    timeout: Duration,
    /// Requests larger than one message go as references to pull ([`crate::bulk`]).
    bulk: Option<crate::bulk::Bulk>,
}

impl RpcClient {
    pub fn new(client: async_nats::Client, sender: impl Into<String>, timeout: Duration) -> Self {
        RpcClient { client, sender: sender.into(), timeout, bulk: None }
    }

    pub fn with_bulk(mut self, bulk: crate::bulk::Bulk) -> Self {
        self.bulk = Some(bulk);
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    /// One request, waiting the client's timeout for the reply.
    pub async fn call<R: Rpc>(&self, subject: String, req: &R::Request) -> Result<R::Reply, RpcError> {
        self.call_within::<R>(subject, req, self.timeout).await
    }

    /// One request, waiting `timeout` for the reply.
    pub async fn call_within<R: Rpc>(
        &self,
        subject: String,
        req: &R::Request,
        timeout: Duration,
    ) -> Result<R::Reply, RpcError> {
        let payload = R::encode_request(&self.sender, req).map_err(|e| RpcError::Failed {
            what: R::WHAT,
            subject: subject.clone(),
            message: e.to_string(),
        })?;
        self.call_bytes::<R>(subject, payload, timeout).await
    }

    /// A request of already encoded bytes (tests send garbage with it).
    pub async fn call_bytes<R: Rpc>(
        &self,
        subject: String,
        mut payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<R::Reply, RpcError> {
        let what = R::WHAT;
        let failed = |message: String| RpcError::Failed { what, subject: subject.clone(), message };
        if let Some(bulk) = &self.bulk {
            payload = bulk.wrap(payload);
        }
        let request = async_nats::Request::new().payload(payload.into()).timeout(Some(timeout));
        let timed_out = || RpcError::TimedOut { what, subject: subject.clone(), after_ms: timeout.as_millis() as u64 };
        let msg = match tokio::time::timeout(timeout, self.client.send_request(subject.clone(), request)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::TimedOut => return Err(timed_out()),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(RpcError::NoResponders { what, subject: subject.clone() })
            }
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Ok(Ok(msg)) => msg,
        };
        let undecodable = |message: String| RpcError::Undecodable { what, subject: subject.clone(), message };
        let bytes = crate::bulk::unwrap(&self.client, msg.payload, timeout).await.map_err(undecodable)?;
        R::decode_reply(&bytes).map_err(|e| undecodable(e.to_string()))
    }
}

/// The header of a keep-alive message: a long request's server says it is still at work.
pub const KEEPALIVE_HEADER: &str = "Tessera-Keepalive";
/// How often a long request's server says so.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(5);

impl RpcClient {
    /// A long request (a backup, a restore): waits up to `timeout` for the reply, but only as
    /// long as the server keeps sending keep-alives ([`Replier::keep_alive`]); `idle` without
    /// one means the server died, and the call ends with an error saying so.
    pub async fn call_long<R: Rpc>(
        &self,
        subject: String,
        req: &R::Request,
        timeout: Duration,
        idle: Duration,
    ) -> Result<R::Reply, RpcError> {
        use futures::StreamExt;
        let what = R::WHAT;
        let failed = |message: String| RpcError::Failed { what, subject: subject.clone(), message };
        let payload = R::encode_request(&self.sender, req).map_err(|e| failed(e.to_string()))?;
        let inbox = self.client.new_inbox();
        let mut replies = self.client.subscribe(inbox.clone()).await.map_err(|e| failed(e.to_string()))?;
        self.client
            .publish_with_reply(subject.clone(), inbox, payload.into())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let msg = match tokio::time::timeout(wait, replies.next()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => return Err(failed("the reply subscription ended".into())),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(RpcError::TimedOut { what, subject, after_ms: timeout.as_millis() as u64 })
                }
                Err(_) => {
                    return Err(failed(format!(
                        "the node serving it went silent for {} s (no keep-alive): it died or lost NATS; check `tessera ctl GetTablets` and the events",
                        idle.as_secs()
                    )))
                }
            };
            if msg.headers.as_ref().is_some_and(|h| h.get(KEEPALIVE_HEADER).is_some()) {
                continue;
            }
            if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                return Err(RpcError::NoResponders { what, subject });
            }
            let undecodable = |message: String| RpcError::Undecodable { what, subject: subject.clone(), message };
            let bytes = crate::bulk::unwrap(&self.client, msg.payload, idle).await.map_err(undecodable)?;
            return R::decode_reply(&bytes).map_err(|e| undecodable(e.to_string()));
        }
    }
}

/// Where one request's reply goes.
pub struct Replier<R: Rpc> {
    client: async_nats::Client,
    sender: String,
    to: async_nats::Subject,
    bulk: Option<crate::bulk::Bulk>,
    _rpc: std::marker::PhantomData<R>,
}

impl<R: Rpc> Replier<R> {
    /// Sends the reply (as a reference to pull when it is larger than one message).
    pub async fn send(self, reply: &R::Reply) {
        send::<R>(&self.client, &self.sender, self.to, self.bulk.as_ref(), reply).await
    }

    /// The subject the reply goes to (a streamed answer sends more there).
    pub fn subject(&self) -> &async_nats::Subject {
        &self.to
    }

    /// Sends keep-alives to the caller until the returned guard is dropped (a long request;
    /// see [`RpcClient::call_long`]).
    pub fn keep_alive(&self) -> tokio::task::JoinHandle<()> {
        let (client, to) = (self.client.clone(), self.to.clone());
        tokio::spawn(async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(KEEPALIVE_HEADER, "1");
            loop {
                tokio::time::sleep(KEEPALIVE_EVERY).await;
                if client.publish_with_headers(to.clone(), headers.clone(), bytes::Bytes::new()).await.is_err() {
                    return;
                }
            }
        })
    }
}

async fn send<R: Rpc>(
    client: &async_nats::Client,
    sender: &str,
    to: async_nats::Subject,
    bulk: Option<&crate::bulk::Bulk>,
    reply: &R::Reply,
) {
    match R::encode_reply(sender, reply) {
        Ok(mut bytes) => {
            if let Some(b) = bulk {
                bytes = b.wrap(bytes);
            }
            if let Err(e) = client.publish(to, bytes.into()).await {
                tracing::warn!(what = R::WHAT, error = %e, "could not send a reply");
            }
        }
        Err(e) => tracing::warn!(what = R::WHAT, error = %e, "could not encode a reply"),
    }
}

/// Decodes one request message (pulling a large one first). A request that does not decode
/// is answered with [`Rpc::bad_request`] here and `None` comes back; so is one without a reply
/// subject (dropped, with a warning).
pub async fn receive<R: Rpc>(
    client: &async_nats::Client,
    sender: &str,
    msg: async_nats::Message,
    bulk: Option<&crate::bulk::Bulk>,
) -> Option<(R::Request, Replier<R>)> {
    let Some(to) = msg.reply.clone() else {
        tracing::warn!(what = R::WHAT, subject = %msg.subject, "request without a reply subject; dropped");
        return None;
    };
    let replier = Replier {
        client: client.clone(),
        sender: sender.to_string(),
        to,
        bulk: bulk.cloned(),
        _rpc: Default::default(),
    };
    let bytes = match crate::bulk::unwrap(client, msg.payload, Duration::from_secs(30)).await {
        Ok(b) => b,
        Err(e) => {
            replier.send(&R::bad_request(CodecError::Body(format!("{}: {e}", msg.subject)))).await;
            return None;
        }
    };
    match R::decode_request(&bytes) {
        Ok(req) => Some((req, replier)),
        Err(e) => {
            tracing::warn!(what = R::WHAT, subject = %msg.subject, error = %e, "request does not decode");
            replier.send(&R::bad_request(e)).await;
            None
        }
    }
}

/// Decodes a small request message at once (control messages; no large payloads), for a
/// server that must look at its own state before it answers. Like [`receive`] otherwise.
pub fn receive_now<R: Rpc>(
    client: &async_nats::Client,
    sender: &str,
    msg: &async_nats::Message,
) -> Option<(R::Request, Replier<R>)> {
    let Some(to) = msg.reply.clone() else {
        tracing::warn!(what = R::WHAT, subject = %msg.subject, "request without a reply subject; dropped");
        return None;
    };
    let replier =
        Replier { client: client.clone(), sender: sender.to_string(), to, bulk: None, _rpc: Default::default() };
    match R::decode_request(&msg.payload) {
        Ok(req) => Some((req, replier)),
        Err(e) => {
            tracing::warn!(what = R::WHAT, subject = %msg.subject, error = %e, "request does not decode");
            tokio::spawn(async move { replier.send(&R::bad_request(e)).await });
            None
        }
    }
}

/// The exchanges of tessera.
pub mod exchanges {
    use super::Rpc;
    use crate::protocol::admin::{AdminReply, AdminRequest, ErrorCode, RemoteError};
    use crate::protocol::envelope::CodecError;
    use crate::protocol::tablet::{self, ManageReply, ManageRequest, QueryReply, QueryRequest, TabletError};
    use crate::protocol::workflow::{StreamControl, StreamReply};

    /// Admin commands: `tessera.admin.<Command>`.
    pub struct Admin;
    impl Rpc for Admin {
        type Request = AdminRequest;
        type Reply = AdminReply;
        const WHAT: &'static str = "admin command";
        fn bad_request(e: CodecError) -> AdminReply {
            let code = match e {
                CodecError::Version { .. } => ErrorCode::UnsupportedVersion,
                _ => ErrorCode::BadRequest,
            };
            Err(RemoteError::new(code, e.to_string()))
        }
    }

    /// Tablet management: `tessera.tablet.<alias>.manage`.
    pub struct Manage;
    impl Rpc for Manage {
        type Request = ManageRequest;
        type Reply = ManageReply;
        const WHAT: &'static str = "tablet management request";
        fn bad_request(e: CodecError) -> ManageReply {
            Err(TabletError::BadRequest(e.to_string()))
        }
    }

    /// The query service: `tessera.tablet.<alias>.query` and the target queue groups. The hot
    /// path carries no envelope: a framed MessagePack request, a framed bincode reply.
    pub struct Query;
    impl Rpc for Query {
        type Request = QueryRequest;
        type Reply = QueryReply;
        const WHAT: &'static str = "query-service request";
        fn encode_request(_: &str, req: &QueryRequest) -> Result<Vec<u8>, CodecError> {
            tablet::encode_query_request(req).map_err(|e| CodecError::Encode(e.to_string()))
        }
        fn decode_request(bytes: &[u8]) -> Result<QueryRequest, CodecError> {
            tablet::decode_query_request(bytes).map_err(|e| CodecError::Body(e.to_string()))
        }
        fn encode_reply(_: &str, reply: &QueryReply) -> Result<Vec<u8>, CodecError> {
            Ok(tablet::encode_query_reply(reply))
        }
        fn decode_reply(bytes: &[u8]) -> Result<QueryReply, CodecError> {
            tablet::decode_query_reply(bytes).map_err(|e| CodecError::Body(e.to_string()))
        }
        fn bad_request(e: CodecError) -> QueryReply {
            Err(TabletError::BadRequest(e.to_string()))
        }
    }

    /// A VReplication stream's control: `tessera.vrepl.<ks>.<workflow>.<target>.<source>`.
    pub struct Stream;
    impl Rpc for Stream {
        type Request = StreamControl;
        type Reply = StreamReply;
        const WHAT: &'static str = "stream control request";
        fn bad_request(e: CodecError) -> StreamReply {
            Err(format!("bad stream control request: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exchanges::{Admin, Manage, Query, Stream};
    use super::Rpc;
    use crate::protocol::admin::{AdminRequest, AdminResponse, ErrorCode};
    use crate::protocol::envelope::{CodecError, Envelope};
    use crate::protocol::tablet::{ExecOptions, ManageRequest, QueryRequest, QueryResponse, TabletError};
    use crate::protocol::workflow::StreamControl;

    fn round_trip<R: Rpc>(req: R::Request, reply: R::Reply)
    where
        R::Request: PartialEq + std::fmt::Debug,
        R::Reply: PartialEq + std::fmt::Debug,
    {
        let bytes = R::encode_request("t", &req).unwrap();
        assert_eq!(R::decode_request(&bytes).unwrap(), req);
        let bytes = R::encode_reply("t", &reply).unwrap();
        assert_eq!(R::decode_reply(&bytes).unwrap(), reply);
        assert!(R::decode_request(b"\x00garbage").is_err());
        assert!(R::decode_reply(b"").is_err());
    }

    #[test]
    fn every_exchange_round_trips_and_refuses_garbage() {
        round_trip::<Admin>(AdminRequest::GetKeyspaces, Ok(AdminResponse::Done { message: "ok".into(), seq: 3 }));
        round_trip::<Manage>(ManageRequest::Status, Err(TabletError::BadRequest("x".into())));
        round_trip::<Query>(
            QueryRequest::Execute {
                sql: "select 1".into(),
                binds: Default::default(),
                transaction_id: None,
                options: ExecOptions { query_id: 7, stream: true, ..Default::default() },
            },
            Ok(QueryResponse::Done),
        );
        round_trip::<Stream>(StreamControl::Status, Err("stopped".into()));
    }

    #[test]
    fn bad_requests_say_what_was_wrong() {
        let mut env = Envelope::new("t", AdminRequest::GetKeyspaces);
        env.v = 9;
        let e = Admin::decode_request(&env.encode().unwrap()).unwrap_err();
        assert!(matches!(e, CodecError::Version { .. }));
        assert_eq!(Admin::bad_request(e).unwrap_err().code, ErrorCode::UnsupportedVersion);
        let e = Admin::decode_request(b"junk").unwrap_err();
        assert_eq!(Admin::bad_request(e).unwrap_err().code, ErrorCode::BadRequest);
        let e = Query::decode_request(b"junk").unwrap_err();
        assert!(matches!(Query::bad_request(e), Err(TabletError::BadRequest(_))));
    }
}
