//! Topology time travel: the cluster as it was right after any commit of the topology stream
//! (folded from the stream, as every node does at start), and the commits between two points.

use std::fmt::Write as _;

use actix_web::{web, HttpResponse};

use super::{esc, page};
use crate::protocol::envelope::format_time;
use crate::topo::state::Topology;
use crate::web::WebState;

/// At most this many commits are listed between the two points.
const MAX_LISTED: u64 = 200;
/// The default distance of `from` behind `at`.
const DEFAULT_SPAN: u64 = 20;

#[derive(serde::Deserialize)]
pub struct Points {
    at: Option<u64>,
    from: Option<u64>,
}

const SCRIPT: &str = r#"<script>
const at = document.getElementById('at'), from = document.getElementById('from');
const show = () => { document.getElementById('at-label').textContent = at.value; document.getElementById('from-label').textContent = from.value; };
const go = () => { location.search = '?at=' + at.value + '&from=' + Math.min(+from.value, +at.value); };
at.oninput = show; from.oninput = show; at.onchange = go; from.onchange = go;
</script>"#;

pub async fn page_handler(state: web::Data<WebState>, q: web::Query<Points>) -> HttpResponse {
    let Some(store) = state.store.clone() else {
        return page(&state, "Time travel", "<p class=bad>this node does not read the topology stream</p>", false);
    };
    let last = match store.last_seq().await {
        Ok(l) => l,
        Err(e) => {
            let body = format!("<p class=bad>cannot read the topology stream: {}</p>", esc(&e.to_string()));
            return page(&state, "Time travel", &body, false);
        }
    };
    let at = q.at.unwrap_or(last).min(last);
    let from = q.from.unwrap_or(at.saturating_sub(DEFAULT_SPAN)).min(at);
    let mut b = String::new();
    let _ = write!(
        b,
        "<form onsubmit=\"return false\"><p>Show the cluster after topology commit <b id=at-label>{at}</b> of {last} \
         <input type=range id=at min=0 max={last} value={at}></p>\
         <p>List the commits after <b id=from-label>{from}</b> &nbsp; <input type=range id=from min=0 max={last} value={from}></p></form>\
         <p><a href=\"/history?at={last}\">now</a> &middot; <a href=\"/history?at={}&from={}\">earlier</a> &middot; \
         <a href=\"/history?at={}&from={}\">later</a></p>",
        at.saturating_sub(1),
        from.saturating_sub(1),
        (at + 1).min(last),
        (from + 1).min(last)
    );
    match folded(&state, &store, at).await {
        Ok(topo) => render_topology(&mut b, &topo, at == last),
        Err(e) => {
            let _ = write!(b, "<p class=bad>cannot fold the topology up to {at}: {}</p>", esc(&e.to_string()));
        }
    }
    let start = (from + 1).max(at.saturating_sub(MAX_LISTED - 1)).max(1);
    let _ = write!(b, "<h2>Commits {start} to {at}</h2>");
    if start > from + 1 {
        let _ = write!(b, "<p class=muted>(the {} before these are not listed)</p>", start - from - 1);
    }
    if at >= start {
        match store.read_range(start, at).await {
            Ok(commits) => {
                b.push_str("<table><tr><th>seq</th><th>time (UTC)</th><th>command</th><th>by</th><th>events</th></tr>");
                for c in commits.iter().rev() {
                    let events: Vec<String> = c.commit.events.iter().map(|e| esc(&e.to_string())).collect();
                    let _ = write!(
                        b,
                        "<tr class=commit><td><a href=\"/history?at={seq}&from={}\">{seq}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        from.min(c.seq.saturating_sub(1)),
                        format_time(c.time_ms),
                        esc(&c.commit.command),
                        esc(&c.sender),
                        events.join("<br>"),
                        seq = c.seq
                    );
                }
                b.push_str("</table>");
            }
            Err(e) => {
                let _ = write!(b, "<p class=bad>cannot read the commits: {}</p>", esc(&e.to_string()));
            }
        }
    } else {
        b.push_str("<p class=muted>none</p>");
    }
    b.push_str(SCRIPT);
    page(&state, "Time travel", &b, false)
}

/// Topologies already folded, by sequence (the slider moves back and forth over a few).
fn checkpoints() -> &'static std::sync::Mutex<std::collections::BTreeMap<u64, std::sync::Arc<Topology>>> {
    static C: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<u64, std::sync::Arc<Topology>>>> =
        std::sync::OnceLock::new();
    C.get_or_init(Default::default)
}

/// Checkpoints kept (each a whole topology).
const CHECKPOINTS: usize = 32;

/// The topology right after commit `at`: this node's live view when it is there, else folded
/// forward from the nearest checkpoint at or before `at` (from the start if none).
async fn folded(
    state: &WebState,
    store: &crate::topo::store::TopoStore,
    at: u64,
) -> Result<std::sync::Arc<Topology>, crate::topo::TopoError> {
    let live = state.view.snapshot();
    if live.seq == at {
        return Ok(live);
    }
    let base = {
        let c = checkpoints().lock().unwrap_or_else(|e| e.into_inner());
        c.range(..=at).next_back().map(|(_, t)| t.clone())
    };
    if let Some(t) = base.as_ref().filter(|t| t.seq == at) {
        return Ok(t.clone());
    }
    let start = base.map(|t| (*t).clone()).unwrap_or_default();
    let topo = std::sync::Arc::new(store.load_from(start, at).await?);
    let mut c = checkpoints().lock().unwrap_or_else(|e| e.into_inner());
    c.insert(at, topo.clone());
    while c.len() > CHECKPOINTS {
        // Keep the spread: drop the checkpoint closest to its predecessor.
        let keys: Vec<u64> = c.keys().copied().collect();
        let drop = keys.windows(2).min_by_key(|w| w[1] - w[0]).map(|w| w[1]).unwrap_or(keys[0]);
        c.remove(&drop);
    }
    Ok(topo)
}

fn render_topology(b: &mut String, topo: &Topology, now: bool) {
    let _ = write!(
        b,
        "<h2>The cluster {}</h2><h3>Keyspaces</h3>",
        if now { format!("after commit {} (now)", topo.seq) } else { format!("after commit {}", topo.seq) }
    );
    if topo.keyspaces.is_empty() {
        b.push_str("<p class=muted id=no-keyspaces>no keyspaces</p>");
    } else {
        b.push_str("<table id=keyspaces><tr><th>keyspace</th><th>shards (primary, term)</th><th>serving primaries</th><th>workflows</th></tr>");
        for ks in topo.keyspaces.values() {
            let shards: Vec<String> = ks
                .shard_names()
                .iter()
                .filter_map(|n| ks.shards.get(n))
                .map(|s| format!("{} ({}, {})", s.name, s.primary.as_deref().unwrap_or("-"), s.primary_term))
                .collect();
            let serving = ks.serving.get(&crate::protocol::topology::TabletType::Primary).cloned().unwrap_or_default();
            let _ = write!(
                b,
                "<tr class=keyspace><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ks.name),
                esc(&shards.join(", ")),
                esc(&serving.join(" ")),
                esc(&ks.workflows.keys().cloned().collect::<Vec<_>>().join(", "))
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h3>Tablets</h3>");
    if topo.tablets.is_empty() {
        b.push_str("<p class=muted>no tablets</p>");
    } else {
        b.push_str("<table><tr><th>tablet</th><th>keyspace/shard</th><th>type</th><th>node</th><th>MySQL</th></tr>");
        for t in topo.tablets.values() {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}:{}</td></tr>",
                esc(&t.alias),
                esc(&t.keyspace),
                esc(&t.shard),
                t.tablet_type,
                esc(&t.node_id),
                esc(&t.mysql_host),
                t.mysql_port
            );
        }
        b.push_str("</table>");
    }
    if !topo.routing_rules.is_empty() {
        let _ = write!(
            b,
            "<h3>Routing rules</h3><pre>{}</pre>",
            esc(&crate::topo::routing_rules::table_rules_json(&topo.routing_rules).to_string())
        );
    }
}
