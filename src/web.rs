//! Each node's HTTP server: `/healthz`, `/debug/status`, `/api/topology`, `/metrics`, the query
//! logs and the operator console ([`crate::console`]).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;

use crate::protocol::node::NodeInfo;
use crate::topo::view::TopoView;

/// What the pages read.
#[derive(Clone)]
pub struct WebState {
    pub node: NodeInfo,
    pub client: async_nats::Client,
    pub view: TopoView,
    /// Set once the node has replayed the topology and serves admin commands.
    pub ready: Arc<AtomicBool>,
    pub started: Instant,
    /// The topology stream, for time travel.
    pub store: Option<crate::topo::store::TopoStore>,
}

#[derive(Serialize)]
struct Status<'a> {
    node_id: &'a str,
    cell: &'a str,
    host: &'a str,
    version: &'a str,
    incarnation: &'a str,
    pid: u32,
    nats: &'static str,
    ready: bool,
    topology_seq: u64,
    keyspaces: usize,
    tablets: usize,
    uptime_secs: u64,
    /// How the gateway's statements left for the tablets (single requests or batches).
    batching: crate::backend::batch::BatchStats,
}

/// Binds and starts the server on the current actix system; returns the bound address.
pub fn start(addr: &str, state: WebState) -> std::io::Result<std::net::SocketAddr> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/debug/status", web::get().to(status))
            .route("/api/topology", web::get().to(topology))
            .route("/metrics", web::get().to(metrics))
            .route("/debug/querylog", web::get().to(querylog))
            .route("/debug/queryz", web::get().to(queryz))
            .configure(crate::console::routes)
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs().first().copied().ok_or_else(|| std::io::Error::other("no address bound"))?;
    actix::spawn(server.run());
    crate::console::spawn_sampler();
    Ok(bound)
}

async fn healthz(state: web::Data<WebState>) -> HttpResponse {
    let nats = crate::nats::state_name(&state.client);
    if nats != "connected" {
        return HttpResponse::ServiceUnavailable().body(format!("not ok: NATS {nats}\n"));
    }
    if !state.ready.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable().body("not ok: replaying topology\n");
    }
    HttpResponse::Ok().body("ok\n")
}

async fn status(state: web::Data<WebState>) -> HttpResponse {
    let topo = state.view.snapshot();
    HttpResponse::Ok().json(Status {
        node_id: &state.node.id,
        cell: &state.node.cell,
        host: &state.node.host,
        version: &state.node.version,
        incarnation: &state.node.incarnation,
        pid: state.node.pid,
        nats: crate::nats::state_name(&state.client),
        ready: state.ready.load(Ordering::Relaxed),
        topology_seq: topo.seq,
        keyspaces: topo.keyspaces.len(),
        tablets: topo.tablets.len(),
        uptime_secs: state.started.elapsed().as_secs(),
        batching: crate::backend::batch::stats(),
    })
}

/// Prometheus's text exposition of this process's metrics.
async fn metrics(state: web::Data<WebState>) -> HttpResponse {
    let m = crate::metrics::metrics();
    m.topology_seq.set(i64::try_from(state.view.snapshot().seq).unwrap_or(i64::MAX));
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(m.render())
}

/// Filters of `/debug/querylog`.
#[derive(serde::Deserialize)]
struct QueryLogFilter {
    keyspace: Option<String>,
    user: Option<String>,
    #[serde(default)]
    min_ms: u64,
    #[serde(default)]
    errors: bool,
}

/// The gateway's statements as they end, one tab-separated line each (time, connection, user,
/// keyspace, plan, milliseconds, rows, errno, statement, error), until the client leaves.
async fn querylog(filter: web::Query<QueryLogFilter>) -> HttpResponse {
    let f = filter.into_inner();
    let rx = crate::frontend::querylog::hub().subscribe();
    let lines = futures::stream::unfold((rx, f), |(mut rx, f)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if e.matches(f.keyspace.as_deref(), f.user.as_deref(), f.min_ms, f.errors) => {
                    return Some((Ok::<_, actix_web::Error>(bytes::Bytes::from(e.line())), (rx, f)));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let note = format!("# {n} statements skipped: this reader fell behind\n");
                    return Some((Ok(bytes::Bytes::from(note)), (rx, f)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").streaming(lines)
}

/// Normalised statements with their count, total and max time, rows and errors (as Vitess's
/// queryz), most total time first; `?format=json` for machines.
async fn queryz(q: web::Query<std::collections::HashMap<String, String>>) -> HttpResponse {
    let stats = crate::frontend::querylog::hub().stats();
    if q.get("format").is_some_and(|f| f == "json") {
        return HttpResponse::Ok().json(&stats);
    }
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>queryz</title><table border=1 cellpadding=3>\
         <tr><th>statement</th><th>plan</th><th>count</th><th>total ms</th><th>avg ms</th><th>max ms</th>\
         <th>rows</th><th>errors</th></tr>",
    );
    for s in stats {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.3}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            crate::console::esc(&s.normalised),
            s.plan,
            s.count,
            s.total_micros as f64 / 1000.0,
            s.total_micros as f64 / 1000.0 / s.count.max(1) as f64,
            s.max_micros as f64 / 1000.0,
            s.rows,
            s.errors
        );
    }
    html.push_str("</table>");
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

async fn topology(state: web::Data<WebState>) -> HttpResponse {
    HttpResponse::Ok().json(&*state.view.snapshot())
}
