//! The operator console: server-rendered pages on the node's HTTP port.
//!
//! Pages (each links to the others): `/` (nodes, keyspaces with the gateway's QPS and latency),
//! `/keyspace/{ks}` (shards, serving partitions, tablets, workflows, VDiffs),
//! `/keyspace/{ks}/shard/{shard}` (tablets, backups), `/tablet/{alias}`, `/workflows` (streams
//! with progress, rows/s, lag; VDiff results), `/events` (live, server-sent events) and
//! `/history` (topology time travel: the cluster after any topology event, and the events
//! between two points). Live data comes from admin commands sent over this node's NATS
//! connection, like `tessera ctl`; the topology from the node's own view and stream.

mod cluster;
mod history;
mod live;
mod rates;
mod workflows;

use std::fmt::Write as _;
use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::client::AdminClient;
use crate::protocol::admin::{AdminRequest, AdminResponse, TabletInfo};
use crate::web::WebState;

pub use rates::spawn_sampler;

/// How long a page waits for an admin command.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers the console's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(cluster::overview))
        .route("/keyspace/{ks}", web::get().to(cluster::keyspace))
        .route("/keyspace/{ks}/shard/{shard}", web::get().to(cluster::shard))
        .route("/tablet/{alias}", web::get().to(cluster::tablet))
        .route("/workflows", web::get().to(workflows::page))
        .route("/events", web::get().to(live::page))
        .route("/events/stream", web::get().to(live::stream))
        .route("/history", web::get().to(history::page_handler));
}

pub(crate) fn admin(state: &WebState) -> AdminClient {
    AdminClient::new(state.client.clone(), ADMIN_TIMEOUT)
}

/// Tablets with their health, or why they could not be read.
pub(crate) async fn tablets(
    state: &WebState,
    keyspace: Option<&str>,
    shard: Option<&str>,
) -> Result<Vec<TabletInfo>, String> {
    let req = AdminRequest::GetTablets {
        keyspace: keyspace.map(str::to_string),
        shard: shard.map(str::to_string),
        cell: None,
    };
    match admin(state).request(&req).await {
        Ok(AdminResponse::Tablets { tablets }) => Ok(tablets),
        Ok(other) => Err(format!("unexpected answer to GetTablets: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// HTML-escapes text (also fit for attribute values).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub(crate) fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub(crate) fn keyspace_link(ks: &str) -> String {
    format!("<a href=\"/keyspace/{}\">{}</a>", url(ks), esc(ks))
}

pub(crate) fn shard_link(ks: &str, shard: &str) -> String {
    format!("<a href=\"/keyspace/{}/shard/{}\">{}/{}</a>", url(ks), url(shard), esc(ks), esc(shard))
}

pub(crate) fn tablet_link(alias: &str) -> String {
    format!("<a href=\"/tablet/{}\">{}</a>", url(alias), esc(alias))
}

/// A progress bar with its percentage.
pub(crate) fn progress(percent: f64) -> String {
    let p = percent.clamp(0.0, 100.0);
    format!("<progress max=100 value=\"{p:.1}\"></progress> {p:.1}%")
}

/// A duration in milliseconds as people read it.
pub(crate) fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0;color:#222}\
header{background:#23395d;color:#fff;padding:8px 16px}header a{color:#fff;margin-right:14px}\
main{padding:8px 16px}table{border-collapse:collapse;margin:6px 0 14px}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#eef}\
.bad{color:#b00}.ok{color:#070}.muted{color:#777}code{font-size:12px}\
input[type=range]{width:70%}";

/// A whole page: the navigation, `body`, and (when `refresh`) a script that reloads the
/// `#live` part every 5 seconds without losing the scroll position.
pub(crate) fn page(state: &WebState, title: &str, body: &str, refresh: bool) -> HttpResponse {
    let mut html = String::with_capacity(body.len() + 2048);
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=utf-8><title>{} - tessera</title><style>{STYLE}</style></head><body>\
         <header><b>tessera</b> {} &nbsp; <a href=\"/\">Cluster</a><a href=\"/workflows\">Workflows</a>\
         <a href=\"/events\">Events</a><a href=\"/history\">Time travel</a><a href=\"/debug/queryz\">queryz</a>\
         <a href=\"/debug/querylog\">querylog</a><a href=\"/metrics\">metrics</a></header><main><h1>{}</h1>\
         <div id=live>{body}</div></main>",
        esc(title),
        esc(&state.node.id),
        esc(title)
    );
    if refresh {
        html.push_str(
            "<script>const refresh=async()=>{try{const r=await fetch(location.href);if(r.ok){\
             const d=new DOMParser().parseFromString(await r.text(),'text/html');\
             const n=d.getElementById('live');if(n)document.getElementById('live').innerHTML=n.innerHTML;}}catch(e){}\
             setTimeout(refresh,5000);};setTimeout(refresh,5000);</script>",
        );
    }
    html.push_str("</body></html>");
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

/// A page saying what is missing, with a 404.
pub(crate) fn not_found(state: &WebState, what: &str) -> HttpResponse {
    let mut r = page(
        state,
        "Not found",
        &format!("<p class=bad>{}</p><p><a href=\"/\">Back to the cluster</a></p>", esc(what)),
        false,
    );
    *r.status_mut() = actix_web::http::StatusCode::NOT_FOUND;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(url("-80"), "-80");
        assert_eq!(url("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(shard_link("customer", "-80"), "<a href=\"/keyspace/customer/shard/-80\">customer/-80</a>");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(ago(999), "0s");
        assert_eq!(ago(61_000), "1m1s");
        assert_eq!(ago(3_600_000 * 25), "1d1h");
        assert_eq!(progress(150.0), "<progress max=100 value=\"100.0\"></progress> 100.0%");
    }
}
