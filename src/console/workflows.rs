//! The workflows page: every workflow with its streams' progress, rate, lag and state, and
//! the VDiff reports.

use std::fmt::Write as _;

use actix_web::{web, HttpResponse};

use super::{admin, esc, keyspace_link, progress, shard_link, url};
use crate::protocol::admin::{AdminRequest, AdminResponse, WorkflowArgs};
use crate::protocol::workflow::{VDiffReport, WorkflowAction};
use crate::web::WebState;

async fn body(state: &WebState) -> String {
    let topo = state.view.snapshot();
    let mut b = String::new();
    let mut any = false;
    for ks in topo.keyspaces.values() {
        for w in ks.workflows.values() {
            any = true;
            let _ = write!(
                b,
                "<h2 id=\"{}\">{}.{}</h2><p>{:?} {:?} &middot; from {} to {} &middot; tables {} &middot; reads switched {} &middot; writes switched {}</p>",
                url(&format!("{}.{}", ks.name, w.name)),
                keyspace_link(&ks.name),
                esc(&w.name),
                w.kind,
                w.state,
                esc(&format!("{}/{}", w.source_keyspace, w.source_shards.join(","))),
                esc(&format!("{}/{}", w.target_keyspace, w.target_shards.join(","))),
                esc(&w.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")),
                esc(&w.reads_switched.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")),
                w.writes_switched
            );
            let req = AdminRequest::Workflow {
                args: WorkflowArgs {
                    keyspace: ks.name.clone(),
                    workflow: w.name.clone(),
                    action: WorkflowAction::Show,
                    options: None,
                    tablet_types: vec![],
                    timeout_ms: None,
                },
            };
            match admin(state).request(&req).await {
                Ok(AdminResponse::Workflow { streams, .. }) => {
                    b.push_str("<table><tr><th>target</th><th>source</th><th>state</th><th>progress</th><th>rows copied</th><th>rows/s</th><th>lag</th><th>message</th></tr>");
                    for s in &streams {
                        let _ = write!(
                            b,
                            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} (scanned {} of {})</td><td>{:.0}</td><td>{:.1}s</td><td>{}</td></tr>",
                            shard_link(&s.keyspace, &s.target_shard),
                            shard_link(&w.source_keyspace, &s.source_shard),
                            esc(&s.state),
                            progress(s.percent()),
                            s.rows_copied,
                            s.rows_scanned,
                            s.rows_total,
                            s.rows_per_sec,
                            s.lag_secs,
                            esc(&s.message)
                        );
                    }
                    b.push_str("</table>");
                }
                Ok(_) => b.push_str("<p class=bad>unexpected answer to Workflow show</p>"),
                Err(e) => {
                    let _ = write!(b, "<p class=bad>streams unavailable: {}</p>", esc(&e.to_string()));
                }
            }
            let reports: Vec<VDiffReport> = ks.vdiffs.iter().filter(|r| r.workflow == w.name).cloned().collect();
            vdiff_table(&mut b, &reports);
        }
    }
    if !any {
        b.push_str("<p class=muted>No workflows. Start one with <code>tessera ctl Reshard</code> or <code>MoveTables</code>.</p>");
    }
    b.push_str("<h2>Backups and recoveries</h2>");
    let mut rows = Vec::new();
    for kind in ["backup", "recovery"] {
        match super::live::recent(state.client.clone(), crate::protocol::subjects::events_filter(kind, None), 5000)
            .await
        {
            Ok(evs) => rows.extend(evs.into_iter().filter(|e| e.event.name != "BackupProgress")),
            Err(e) => {
                let _ = write!(b, "<p class=bad>{kind} events unavailable: {}</p>", esc(&e));
            }
        }
    }
    rows.sort_by_key(|e| std::cmp::Reverse(e.seq));
    if rows.is_empty() {
        b.push_str("<p class=muted>none among the recent cluster events</p>");
    } else {
        b.push_str("<table><tr><th>time (UTC)</th><th>event</th><th>summary</th></tr>");
        for e in rows.iter().take(50) {
            let class = if e.event.name.ends_with("Failed") { " class=bad" } else { "" };
            let _ = write!(
                b,
                "<tr{class}><td>{}</td><td>{}</td><td>{}</td></tr>",
                crate::protocol::envelope::format_time(e.time_ms),
                esc(&e.event.name),
                esc(&e.event.summary)
            );
        }
        b.push_str("</table><p class=muted>From the last 5,000 cluster events; every event is on <a href=\"/events\">Events</a>.</p>");
    }
    b
}

pub async fn page(state: web::Data<WebState>) -> HttpResponse {
    let body = body(&state).await;
    super::page(&state, "Workflows", &body, true)
}

/// VDiff reports: state, when, and per table what differed.
pub(crate) fn vdiff_table(b: &mut String, reports: &[VDiffReport]) {
    if reports.is_empty() {
        return;
    }
    b.push_str(
        "<h3>VDiff</h3><table><tr><th>id</th><th>workflow</th><th>state</th><th>started</th><th>result</th></tr>",
    );
    for r in reports {
        let result = if r.state != "completed" {
            esc(&r.message)
        } else if r.has_differences() {
            let tables: Vec<String> = r
                .tables
                .iter()
                .filter(|t| t.missing + t.extra + t.different > 0)
                .map(|t| format!("{}: {} missing, {} extra, {} different", t.table, t.missing, t.extra, t.different))
                .collect();
            format!("<span class=bad>{}</span>", esc(&tables.join("; ")))
        } else {
            "<span class=ok>no differences</span>".to_string()
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{result}</td></tr>",
            esc(&r.id),
            esc(&r.workflow),
            esc(&r.state),
            crate::protocol::envelope::format_time(r.started_ms)
        );
    }
    b.push_str("</table>");
}
