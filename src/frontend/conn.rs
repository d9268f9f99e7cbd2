//! One client connection: handshake, authentication, then commands until the client leaves.

use std::collections::HashMap;

pub use crate::auth::{Auth, Credential};
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter, ReadHalf, WriteHalf};
use tracing::{debug, info};

use super::codec::{
    column_def, eof_packet, err_packet, ok_packet, read_packet, write_packet, STATUS_AUTOCOMMIT, STATUS_IN_TRANS,
    STATUS_MORE_RESULTS,
};
use super::handshake::{self, CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS, CLIENT_SSL, SERVER_CAPABILITIES};
use crate::engine::exec::{self, Answer};
use crate::engine::session::SessionState;
use crate::frontend::execute::Services;
use crate::frontend::sessions::Signals;
use crate::plan::{GatewayError, Target};

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_PROCESS_KILL: u8 = 0x0c;
const COM_PING: u8 = 0x0e;
const COM_STATISTICS: u8 = 0x09;
const COM_SET_OPTION: u8 = 0x1b;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1a;
const COM_RESET_CONNECTION: u8 = 0x1f;

/// Connection settings.
#[derive(Clone)]
pub struct ConnConfig {
    pub auth: Auth,
    pub max_allowed_packet: usize,
    /// Connections at once, in all and per user (0: no per-user limit); counted by `limits`.
    pub max_connections: usize,
    pub max_user_connections: usize,
    pub limits: std::sync::Arc<ConnCounts>,
    /// Time a client has to complete the handshake and log in.
    pub connect_timeout: std::time::Duration,
    /// The plugin offered in the greeting (`mysql_native_password` or `caching_sha2_password`).
    pub default_plugin: &'static str,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Refuse clients that do not switch to TLS.
    pub tls_required: bool,
    /// Failed logins per client address, which slow that address down.
    pub throttle: std::sync::Arc<super::throttle::AuthThrottle>,
}

/// Connections open now: in all, and per user once logged in.
#[derive(Default)]
pub struct ConnCounts {
    total: std::sync::atomic::AtomicUsize,
    per_user: std::sync::Mutex<HashMap<String, usize>>,
}

/// One connection counted in [`ConnCounts`]; uncounted when dropped.
struct Counted {
    counts: std::sync::Arc<ConnCounts>,
    user: Option<String>,
}

impl ConnCounts {
    /// Counts a new connection unless `max` are open.
    fn admit(counts: &std::sync::Arc<ConnCounts>, max: usize) -> Option<Counted> {
        use std::sync::atomic::Ordering;
        let prev = counts.total.fetch_add(1, Ordering::AcqRel);
        let counted = Counted { counts: counts.clone(), user: None };
        (prev < max).then_some(counted)
    }

    /// Open connections.
    pub fn total(&self) -> usize {
        self.total.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Counted {
    /// Counts the connection for `user` unless `max` (non-zero) of theirs are open.
    fn log_in(&mut self, user: &str, max: usize) -> bool {
        let mut per = self.counts.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(user.to_string()).or_default();
        if max > 0 && *n >= max {
            return false;
        }
        *n += 1;
        self.user = Some(user.to_string());
        true
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(user) = &self.user {
            let mut per = self.counts.per_user.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per.get_mut(user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(user);
                }
            }
        }
    }
}

/// Anything a session can run over: TCP, a unix socket, TLS over either.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}

type Stream = Box<dyn AsyncStream>;

pub(super) struct Conn {
    /// Buffered: a command's header and body (and pipelined commands) in one read.
    pub(super) reader: BufReader<ReadHalf<Stream>>,
    pub(super) writer: BufWriter<WriteHalf<Stream>>,
    caps: u32,
    pub(super) seq: u8,
    /// How KILL reaches this session.
    pub(super) signals: Arc<Signals>,
}

impl Conn {
    pub(super) async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        self.seq = write_packet(&mut self.writer, self.seq, payload).await?;
        Ok(())
    }

    async fn send_err(&mut self, code: u16, state: &str, message: &str) -> io::Result<()> {
        self.send(&err_packet(code, state, message)).await?;
        self.writer.flush().await
    }

    pub(super) fn deprecate_eof(&self) -> bool {
        self.caps & CLIENT_DEPRECATE_EOF != 0
    }
}

/// Serves one connection to its end. Errors are the connection's: logged, never propagated.
/// `local` marks a unix-socket connection, which counts as secure transport (as in MySQL).
pub async fn serve(mut stream: Stream, peer: String, local: bool, conn_id: u32, cfg: ConnConfig, svc: Services) {
    let Some(mut counted) = ConnCounts::admit(&cfg.limits, cfg.max_connections) else {
        // As MariaDB: the error instead of the greeting.
        let _ = send_raw(&mut stream, &mut 0, &err_packet(1040, "08004", "Too many connections")).await;
        info!(conn_id, peer = %peer, max = cfg.max_connections, "connection refused: max_connections reached");
        return;
    };
    let host = peer.rsplit_once(':').map_or(peer.as_str(), |(h, _)| h).trim_matches(['[', ']']).to_string();
    let host = if local { "localhost".to_string() } else { host };
    let mut state = SessionState {
        autocommit: true,
        connection_id: conn_id,
        host,
        transaction_mode: svc.transaction_mode,
        ..Default::default()
    };
    let login = handshake_and_auth(stream, local, conn_id, &cfg, &svc, &mut state, &mut counted);
    let mut conn = match tokio::time::timeout(cfg.connect_timeout, login).await {
        Ok(Ok(Some(conn))) => conn,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            debug!(conn_id, peer = %peer, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            info!(conn_id, peer = %peer, timeout = ?cfg.connect_timeout, "handshake not completed in time; closed");
            return;
        }
    };
    debug!(conn_id, peer = %peer, "session started");
    let registered = svc.sessions.register(conn_id, &state.user, &state.host);
    conn.signals = registered.signals.clone();
    let result = commands(&mut conn, &cfg, &svc, &mut state).await;
    if state.in_transaction {
        exec::rollback(&svc.tablets, &mut state).await;
        debug!(conn_id, "client left inside a transaction; rolled back");
    }
    // Deregistered after the rollback: a draining gateway waits for it.
    drop(registered);
    if let Err(e) = result {
        debug!(conn_id, error = %e, "connection closed");
    }
}

/// Writes one packet straight to the stream (the handshake runs before the stream is split).
async fn send_raw(stream: &mut Stream, seq: &mut u8, payload: &[u8]) -> io::Result<()> {
    *seq = write_packet(stream, *seq, payload).await?;
    stream.flush().await
}

async fn recv_raw(stream: &mut Stream, seq: &mut u8) -> io::Result<Vec<u8>> {
    let (s, payload) = read_packet(stream, 1 << 16).await?;
    *seq = s.wrapping_add(1);
    Ok(payload)
}

async fn handshake_and_auth(
    mut stream: Stream,
    local: bool,
    conn_id: u32,
    cfg: &ConnConfig,
    svc: &Services,
    state: &mut SessionState,
    counted: &mut Counted,
) -> io::Result<Option<Conn>> {
    let salt = handshake::new_salt();
    let mut seq = 0u8;
    let caps = if cfg.tls.is_some() { SERVER_CAPABILITIES | CLIENT_SSL } else { SERVER_CAPABILITIES };
    let version = svc.identity().await.handshake_version();
    send_raw(&mut stream, &mut seq, &handshake::greeting(conn_id, &salt, &version, caps, cfg.default_plugin)).await?;
    let mut payload = recv_raw(&mut stream, &mut seq).await?;
    let mut secure = local;
    if handshake::is_ssl_request(&payload) {
        let Some(acceptor) = &cfg.tls else {
            send_raw(&mut stream, &mut seq, &err_packet(1045, "28000", "TLS is not enabled on this gateway")).await?;
            return Ok(None);
        };
        stream = Box::new(acceptor.accept(stream).await?);
        secure = true;
        payload = recv_raw(&mut stream, &mut seq).await?;
    }
    let resp = match handshake::parse_response(&payload) {
        Ok(r) => r,
        Err(e) => {
            send_raw(&mut stream, &mut seq, &err_packet(1043, "08S01", &format!("Bad handshake: {e}"))).await?;
            return Ok(None);
        }
    };
    if cfg.tls_required && !secure {
        let msg = "Connections using insecure transport are prohibited: this gateway requires TLS";
        send_raw(&mut stream, &mut seq, &err_packet(3159, "HY000", msg)).await?;
        return Ok(None);
    }
    let allowed = match &cfg.auth {
        Auth::None => true,
        Auth::Users(users) => match users.get(&resp.user) {
            None => false,
            Some(cred) => authenticate(&mut stream, &mut seq, &salt, &resp, cred).await?,
        },
    };
    if !allowed {
        let (failures, wait) = cfg.throttle.failed(&state.host);
        // The answer still arrives within the login's time limit.
        let wait = wait.min(cfg.connect_timeout / 2);
        info!(conn_id, user = %resp.user, host = %state.host, failures, delay = ?wait, "authentication failed");
        tokio::time::sleep(wait).await;
        let using = if resp.auth.is_empty() { "NO" } else { "YES" };
        let msg = format!("Access denied for user '{}' (using password: {using})", resp.user);
        send_raw(&mut stream, &mut seq, &err_packet(1045, "28000", &msg)).await?;
        return Ok(None);
    }
    if !counted.log_in(&resp.user, cfg.max_user_connections) {
        let msg = format!("User {} already has more than 'max_user_connections' active connections", resp.user);
        send_raw(&mut stream, &mut seq, &err_packet(1203, "42000", &msg)).await?;
        return Ok(None);
    }
    cfg.throttle.succeeded(&state.host);
    state.user = resp.user.clone();
    if let Some(db) = &resp.database {
        match use_target(svc, db) {
            Ok(t) => state.target = t,
            Err(e) => {
                let (code, st) = e.mysql_code();
                send_raw(&mut stream, &mut seq, &err_packet(code, st, &e.to_string())).await?;
                return Ok(None);
            }
        }
    }
    send_raw(&mut stream, &mut seq, &ok_packet(0, 0, 0, STATUS_AUTOCOMMIT, 0, "")).await?;
    let (reader, writer) = tokio::io::split(stream);
    Ok(Some(Conn {
        reader: BufReader::with_capacity(16 * 1024, reader),
        writer: BufWriter::with_capacity(64 * 1024, writer),
        caps: resp.capabilities & caps,
        seq: 0,
        signals: Arc::default(),
    }))
}

/// Checks the client's answer with the plugin it used, switching plugins when the stored
/// hashes cannot check that one.
async fn authenticate(
    stream: &mut Stream,
    seq: &mut u8,
    salt: &[u8; 20],
    resp: &handshake::Response,
    cred: &Credential,
) -> io::Result<bool> {
    let can_native = cred.native.is_some() || cred.empty;
    let can_sha2 = cred.sha2.is_some() || cred.empty;
    let mut plugin = resp.plugin.as_str();
    let mut answer = resp.auth.clone();
    let usable =
        (plugin == handshake::CACHING_SHA2 && can_sha2) || (plugin == handshake::NATIVE_PASSWORD && can_native);
    let wanted = match (usable, can_native) {
        (true, _) => None,
        (false, true) => Some(handshake::NATIVE_PASSWORD),
        (false, false) => Some(handshake::CACHING_SHA2),
    };
    if let Some(p) = wanted {
        send_raw(stream, seq, &handshake::auth_switch(p, salt)).await?;
        answer = recv_raw(stream, seq).await?;
        plugin = p;
    }
    if plugin == handshake::CACHING_SHA2 {
        let ok = handshake::check_sha2(salt, &answer, cred.sha2.as_ref());
        if ok {
            // AuthMoreData: fast authentication succeeded; the OK packet follows.
            send_raw(stream, seq, &[0x01, 0x03]).await?;
        }
        return Ok(ok);
    }
    Ok(handshake::check_native(salt, &answer, cred.native.as_ref()))
}

fn use_target(svc: &Services, db: &str) -> Result<Target, GatewayError> {
    let t = Target::parse(db)?;
    if let Some(ks) = &t.keyspace {
        if svc.router.current().keyspace(ks).is_none() {
            return Err(GatewayError::UnknownKeyspace(ks.clone()));
        }
    }
    Ok(t)
}

pub(super) fn status(state: &SessionState, more: bool) -> u16 {
    let mut s = 0;
    if state.autocommit {
        s |= STATUS_AUTOCOMMIT;
    }
    if state.in_transaction {
        s |= STATUS_IN_TRANS;
    }
    if more {
        s |= STATUS_MORE_RESULTS;
    }
    s
}

async fn commands(conn: &mut Conn, cfg: &ConnConfig, svc: &Services, state: &mut SessionState) -> io::Result<()> {
    use futures::FutureExt;
    let mut stmts = super::stmt::Statements::new(cfg.max_allowed_packet);
    loop {
        let signals = conn.signals.clone();
        if signals.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let read = tokio::select! {
            r = read_packet(&mut conn.reader, cfg.max_allowed_packet) => r,
            // KILL CONNECTION while the session waits for its next command.
            _ = signals.close.notified() => return Ok(()),
        };
        let (seq, payload) = match read {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                conn.seq = 1;
                conn.send_err(1153, "08S01", &format!("Got a packet bigger than 'max_allowed_packet' bytes: {e}"))
                    .await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        conn.seq = seq.wrapping_add(1);
        let Some((&cmd, body)) = payload.split_first() else { return Ok(()) };
        if signals.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        // A bug that panics on some input ends this session with an error, never the node.
        let run = std::panic::AssertUnwindSafe(command(conn, svc, state, &mut stmts, cmd, body));
        match run.catch_unwind().await {
            Ok(Ok(Flow::Next)) => {}
            Ok(Ok(Flow::Quit)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(panic) => {
                let what = panic_message(&panic);
                tracing::error!(conn_id = state.connection_id, command = cmd, panic = %what, "session panicked; closing it");
                let msg = format!("internal error in the gateway ({what}); the session is closed, please report it");
                let _ = conn.send_err(1105, "HY000", &msg).await;
                return Err(io::Error::other(format!("session panicked: {what}")));
            }
        }
        conn.writer.flush().await?;
    }
}

/// The text of a panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

enum Flow {
    Next,
    Quit,
}

async fn command(
    conn: &mut Conn,
    svc: &Services,
    state: &mut SessionState,
    stmts: &mut super::stmt::Statements,
    cmd: u8,
    body: &[u8],
) -> io::Result<Flow> {
    match cmd {
        COM_QUIT => return Ok(Flow::Quit),
        COM_PING => conn.send(&ok_packet(0, 0, 0, status(state, false), 0, "")).await?,
        // A bare string, as MariaDB answers it.
        COM_STATISTICS => conn.send(svc.sessions.statistics().as_bytes()).await?,
        COM_INIT_DB => {
            let db = String::from_utf8_lossy(body).into_owned();
            match use_target(svc, &db) {
                Ok(t) => {
                    state.target = t;
                    conn.send(&ok_packet(0, 0, 0, status(state, false), 0, "")).await?;
                }
                Err(e) => {
                    let (code, st) = e.mysql_code();
                    conn.send(&err_packet(code, st, &e.to_string())).await?;
                }
            }
        }
        COM_QUERY => query(conn, svc, state, body).await?,
        COM_FIELD_LIST => field_list(conn, svc, state, body).await?,
        COM_STMT_PREPARE => super::stmt::prepare(conn, stmts, svc, state, body).await?,
        COM_STMT_EXECUTE => super::stmt::execute_stmt(conn, stmts, svc, state, body).await?,
        // No reply to these two.
        COM_STMT_SEND_LONG_DATA => super::stmt::send_long_data(stmts, body),
        COM_STMT_CLOSE => super::stmt::close(stmts, body),
        COM_STMT_RESET => super::stmt::reset(conn, stmts, state, body).await?,
        COM_RESET_CONNECTION => {
            *stmts = super::stmt::Statements::new(stmts.max_long_data());
            exec::rollback(&svc.tablets, state).await;
            state.autocommit = true;
            state.last_insert_id = 0;
            state.user_vars.clear();
            state.sql_mode = None;
            conn.send(&ok_packet(0, 0, 0, status(state, false), 0, "")).await?;
        }
        COM_PROCESS_KILL => {
            let id = super::codec::Reader::new(body).u32().unwrap_or(0);
            match svc.sessions.kill(id, &state.user, true) {
                Ok(()) => conn.send(&ok_packet(0, 0, 0, status(state, false), 0, "")).await?,
                Err(e) => {
                    let (code, st) = e.mysql_code();
                    conn.send(&err_packet(code, st, &e.to_string())).await?
                }
            }
        }
        COM_SET_OPTION => {
            match body {
                [0, 0] => conn.caps |= CLIENT_MULTI_STATEMENTS,
                [1, 0] => conn.caps &= !CLIENT_MULTI_STATEMENTS,
                _ => {}
            }
            conn.send(&eof_packet(status(state, false), 0)).await?;
        }
        other => {
            conn.send(&err_packet(
                1047,
                "08S01",
                &format!("Unknown command {other:#04x}: tessera does not support it yet"),
            ))
            .await?
        }
    }
    Ok(Flow::Next)
}

/// A client's statement as the gateway works with it: trailing NUL bytes and blanks dropped
/// (some clients send them), literals re-quoted ([`crate::sql::parse::client_text`]), and
/// executable comments (`/*!40101 ... */`) applied as MariaDB of the announced version would.
pub(super) async fn client_statement<'a>(
    svc: &Services,
    state: &SessionState,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, str>, String> {
    let end = body.iter().rposition(|b| *b != 0 && !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    let text = crate::sql::parse::client_text(&body[..end], state.escapes())?;
    if !crate::sql::comments::has_executable(&text) {
        return Ok(text);
    }
    let version = svc.identity().await.number();
    Ok(std::borrow::Cow::Owned(crate::sql::comments::apply(&text, version).into_owned()))
}

async fn query(conn: &mut Conn, svc: &Services, state: &mut SessionState, body: &[u8]) -> io::Result<()> {
    // Literals are re-quoted for the tablets here, once: everything after reads backslash
    // escapes and UTF-8 whatever the session's sql_mode and the literals' bytes.
    let sql = match client_statement(svc, state, body).await {
        Ok(s) => s,
        Err(e) => {
            return conn.send(&err_packet(1064, "42000", &format!("You have an error in your SQL syntax: {e}"))).await
        }
    };
    let sql = sql.as_ref();
    if crate::sql::skip_noise(sql).trim().trim_end_matches(';').trim().is_empty() {
        return conn.send(&err_packet(1065, "42000", "Query was empty")).await;
    }
    let statements = if conn.caps & CLIENT_MULTI_STATEMENTS != 0 {
        crate::schema::split_statements(sql)
    } else {
        vec![sql.to_string()]
    };
    if statements.is_empty() {
        return conn.send(&err_packet(1065, "42000", "Query was empty")).await;
    }
    let last = statements.len() - 1;
    for (i, stmt) in statements.iter().enumerate() {
        let answer = super::results::run_guarded(conn, svc, state, stmt).await?;
        // An error ends a multi-statement batch.
        if !super::results::write_answer(conn, state, answer, i < last, false).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// COM_FIELD_LIST: the columns of a table, from an empty select.
async fn field_list(conn: &mut Conn, svc: &Services, state: &mut SessionState, body: &[u8]) -> io::Result<()> {
    let table = body.split(|b| *b == 0).next().map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or_default();
    let sql = format!("select * from {} where 1 = 0", crate::sql::quote_ident(&table));
    let fields = match super::results::run_guarded(conn, svc, state, &sql).await? {
        Ok(Answer::Rows(r)) => Ok(Some(r.fields)),
        Ok(Answer::Stream(s)) => Ok(Some(s.fields.clone())),
        Ok(Answer::Ok { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    match fields {
        Ok(Some(fields)) => {
            for f in &fields {
                let mut def = column_def(f);
                def.push(0xfb); // no default value
                conn.send(&def).await?;
            }
            if conn.deprecate_eof() {
                conn.send(&ok_packet(0xfe, 0, 0, status(state, false), 0, "")).await
            } else {
                conn.send(&eof_packet(status(state, false), 0)).await
            }
        }
        Ok(None) => conn.send(&eof_packet(status(state, false), 0)).await,
        Err(e) => {
            let (code, st) = e.mysql_code();
            conn.send(&err_packet(code, st, &e.to_string())).await
        }
    }
}
