//! Cluster events, live: a page whose script follows `/events/stream` (server-sent events fed
//! from the `TESSERA_EVENTS` stream), filterable by kind or name as `tessera events --filter`.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures::StreamExt;

use crate::client::{subscribe_events, EventsFrom, ReceivedEvent};
use crate::protocol::events::resolve_filter;
use crate::protocol::subjects;
use crate::web::WebState;

/// Events a new follower sees from before it connected.
const RECENT: u64 = 50;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

const SCRIPT: &str = r#"<script>
const rows = document.getElementById('events');
const status = document.getElementById('status');
let es;
let seen = new Set();
function cell(tr, text, link) {
  const td = document.createElement('td');
  if (link) { const a = document.createElement('a'); a.href = link; a.textContent = text; td.appendChild(a); }
  else td.textContent = text;
  tr.appendChild(td);
}
function follow() {
  if (es) es.close();
  rows.innerHTML = '';
  seen = new Set();
  const f = document.getElementById('filter').value.trim();
  history.replaceState(null, '', f ? '?filter=' + encodeURIComponent(f) : location.pathname);
  es = new EventSource('/events/stream' + (f ? '?filter=' + encodeURIComponent(f) : ''));
  es.onopen = () => { status.textContent = 'following'; status.className = 'ok'; };
  es.onerror = () => { status.textContent = 'disconnected; retrying'; status.className = 'bad'; };
  es.addEventListener('failure', m => { status.textContent = m.data; status.className = 'bad'; es.close(); });
  es.onmessage = m => {
    const e = JSON.parse(m.data);
    if (seen.has(e.seq)) return;
    seen.add(e.seq);
    const tr = document.createElement('tr');
    tr.className = 'event';
    tr.dataset.name = e.name;
    cell(tr, new Date(e.time_ms).toISOString());
    cell(tr, e.kind);
    cell(tr, e.name, e.topo_seq ? '/history?at=' + e.topo_seq : null);
    cell(tr, e.summary);
    cell(tr, e.sender);
    rows.prepend(tr);
    while (rows.children.length > 500) rows.lastChild.remove();
  };
}
document.getElementById('apply').onclick = follow;
document.getElementById('filter').onkeydown = e => { if (e.key === 'Enter') follow(); };
follow();
</script>"#;

#[derive(serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    filter: String,
}

pub async fn page(state: web::Data<WebState>, q: web::Query<Filter>) -> HttpResponse {
    let body = format!(
        "<p>Filter by kind (<code>topo</code>, <code>node</code>, <code>tablet</code>, <code>vreplication</code>, \
         <code>backup</code>, <code>recovery</code>, <code>transaction</code>) or name (<code>KeyspaceCreated</code>, ...): \
         <input id=filter value=\"{}\" size=24> <button id=apply>Apply</button> <span id=status class=muted>connecting</span></p>\
         <table><thead><tr><th>time (UTC)</th><th>kind</th><th>event</th><th>summary</th><th>from</th></tr></thead>\
         <tbody id=events></tbody></table><p class=muted>Newest first; the last {RECENT} events, then live. \
         Topology events link to the cluster as it was right after them.</p>{SCRIPT}",
        super::esc(&q.filter)
    );
    // Not `refresh`: the script keeps the list live.
    super::page(&state, "Events", &body, false)
}

fn sse(kind: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 24);
    if let Some(k) = kind {
        out.push_str("event: ");
        out.push_str(k);
        out.push('\n');
    }
    for line in data.split(['\n', '\r']).filter(|l| !l.is_empty()) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// An event frame with its stream sequence as the id the browser sends back on reconnecting.
fn sse_with_id(seq: u64, data: &str) -> Bytes {
    let mut out = format!("id: {seq}\n").into_bytes();
    out.extend_from_slice(&sse(None, data));
    Bytes::from(out)
}

fn failure(msg: String) -> HttpResponse {
    let body = sse(Some("failure"), &msg);
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("Cache-Control", "no-cache")).body(body)
}

/// `text/event-stream` of cluster events: the last few, then each as it is published.
pub async fn stream(req: actix_web::HttpRequest, state: web::Data<WebState>, q: web::Query<Filter>) -> HttpResponse {
    let filter = q.filter.trim();
    let server_filter = if filter.is_empty() {
        subjects::events_all()
    } else {
        match resolve_filter(filter) {
            Ok((kind, name)) => subjects::events_filter(kind, name),
            Err(e) => return failure(e),
        }
    };
    // A browser reconnecting by itself says where it stopped: resume there, nothing twice.
    let from = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(EventsFrom::Recent(RECENT), EventsFrom::After);
    let events = match subscribe_events(state.client.clone(), from, server_filter).await {
        Ok(s) => s,
        Err(e) => return failure(format!("cannot follow cluster events: {e}")),
    };
    let events = events.boxed();
    let tick = tokio::time::interval(KEEPALIVE);
    let body = futures::stream::unfold((events, tick), |(mut events, mut tick)| async move {
        loop {
            tokio::select! {
                item = events.next() => {
                    let bytes = match item? {
                        Ok(ev) => match serde_json::to_string(&ev) {
                            Ok(json) => sse_with_id(ev.seq, &json),
                            Err(_) => continue,
                        },
                        Err(e) => sse(Some("warning"), &e),
                    };
                    return Some((Ok::<_, actix_web::Error>(bytes), (events, tick)));
                }
                _ = tick.tick() => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (events, tick))),
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The events among the stream's last `window` that match `filter_subject`, oldest first;
/// whatever arrived within a second and a half.
pub async fn recent(
    client: async_nats::Client,
    filter_subject: String,
    window: u64,
) -> Result<Vec<ReceivedEvent>, String> {
    let events =
        subscribe_events(client, EventsFrom::Recent(window), filter_subject).await.map_err(|e| e.to_string())?;
    futures::pin_mut!(events);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    loop {
        // The backlog comes at once; a pause means it has all arrived.
        let idle = tokio::time::sleep(Duration::from_millis(250));
        tokio::select! {
            item = events.next() => match item {
                Some(Ok(ev)) => out.push(ev),
                Some(Err(_)) => {}
                None => break,
            },
            _ = idle => break,
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_sent_events_are_framed() {
        assert_eq!(&super::sse(None, "{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&super::sse(Some("failure"), "x\ny")[..], b"event: failure\ndata: x\ndata: y\n\n");
        assert_eq!(&super::sse(None, "a\rb")[..], b"data: a\ndata: b\n\n", "a bare CR ends a line too");
        assert_eq!(&super::sse_with_id(42, "{}")[..], b"id: 42\ndata: {}\n\n");
    }
}
