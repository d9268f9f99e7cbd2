//! The cluster pages: overview, keyspace, shard and tablet.

use std::fmt::Write as _;

use actix_web::{web, HttpResponse};

use super::{admin, esc, keyspace_link, not_found, page, shard_link, tablet_link, tablets};
use crate::protocol::admin::{AdminRequest, AdminResponse, TabletInfo};
use crate::protocol::envelope::now_ms;
use crate::topo::state::Keyspace;
use crate::web::WebState;

pub async fn overview(state: web::Data<WebState>) -> HttpResponse {
    let topo = state.view.snapshot();
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>cell {} &middot; version {} &middot; up {} &middot; NATS {} &middot; topology sequence \
         <a href=\"/history?at={seq}\">{seq}</a></p>",
        esc(&state.node.cell),
        esc(&state.node.version),
        super::ago(state.started.elapsed().as_millis() as u64),
        crate::nats::state_name(&state.client),
        seq = topo.seq
    );
    b.push_str("<h2>Nodes</h2>");
    match admin(&state).request(&AdminRequest::GetNodes).await {
        Ok(AdminResponse::Nodes { nodes }) => {
            b.push_str("<table><tr><th>node</th><th>cell</th><th>host</th><th>version</th><th>uptime</th><th>last seen</th><th>topology seq</th><th>hosts</th></tr>");
            let now = now_ms();
            for n in nodes {
                let name = if n.node.http_addr.is_empty() {
                    esc(&n.node.id)
                } else {
                    format!("<a href=\"http://{}/\">{}</a>", esc(&n.node.http_addr), esc(&n.node.id))
                };
                let _ = write!(
                    b,
                    "<tr><td>{name}</td><td>{}</td><td>{} (pid {})</td><td>{}</td><td>{}</td><td>{} ago</td><td>{}</td><td>{}</td></tr>",
                    esc(&n.node.cell),
                    esc(&n.node.host),
                    n.node.pid,
                    esc(&n.node.version),
                    super::ago(now.saturating_sub(n.node.started_ms)),
                    super::ago(n.last_seen_ms_ago),
                    n.topo_seq,
                    esc(&n.node.hosts.join(", "))
                );
            }
            b.push_str("</table>");
        }
        Ok(_) => b.push_str("<p class=bad>unexpected answer to GetNodes</p>"),
        Err(e) => {
            let _ = write!(b, "<p class=bad>nodes unavailable: {}</p>", esc(&e.to_string()));
        }
    }
    b.push_str("<h2>Keyspaces</h2><table><tr><th>keyspace</th><th>shards</th><th>serving primaries</th><th>durability</th><th>vschema</th><th>workflows</th><th>QPS</th><th>avg ms</th><th>errors/s</th><th>statements</th></tr>");
    let rates = super::rates::current();
    for ks in topo.keyspaces.values() {
        let r = rates.get(&ks.name).copied().unwrap_or_default();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            keyspace_link(&ks.name),
            ks.shards.len(),
            esc(&serving(ks).join(" ")),
            esc(&ks.durability_policy),
            vschema_kind(ks),
            ks.workflows.len(),
            r.qps,
            r.avg_ms,
            r.errors_per_sec,
            r.total
        );
    }
    b.push_str(
        "</table><p class=muted>QPS, latency and errors: statements this node's gateway served over the last 5 s.</p>",
    );
    page(&state, "Cluster", &b, true)
}

fn serving(ks: &Keyspace) -> Vec<String> {
    ks.serving.get(&crate::protocol::topology::TabletType::Primary).cloned().unwrap_or_default()
}

fn vschema_kind(ks: &Keyspace) -> &'static str {
    match &ks.vschema {
        Some(v) if v.sharded => "sharded",
        Some(_) => "unsharded",
        None => "none",
    }
}

pub async fn keyspace(state: web::Data<WebState>, path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let topo = state.view.snapshot();
    let Some(ks) = topo.keyspaces.get(&name) else {
        return not_found(&state, &format!("keyspace `{name}` does not exist"));
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>durability {} &middot; vschema {} &middot; failover {}</p><h2>Shards</h2>\
         <table><tr><th>shard</th><th>key range</th><th>primary serving</th><th>primary</th><th>term</th><th>tablets</th><th>failover</th><th>reparent running</th></tr>",
        esc(&ks.durability_policy),
        vschema_kind(ks),
        if ks.failover_disabled { "off" } else { "on" }
    );
    for sname in ks.shard_names() {
        let Some(s) = ks.shards.get(&sname) else { continue };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class={}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            shard_link(&ks.name, &sname),
            s.key_range,
            if s.is_primary_serving { "ok" } else { "muted" },
            if s.is_primary_serving { "yes" } else { "no" },
            s.primary.as_deref().map(tablet_link).unwrap_or_else(|| "-".into()),
            s.primary_term,
            topo.shard_tablets(&ks.name, &sname).count(),
            if s.failover_disabled { "off" } else { "on" },
            esc(&s.reparent.as_ref().map(|l| format!("{} {} by {}", l.command, l.id, l.by)).unwrap_or_default())
        );
    }
    b.push_str("</table><h2>Serving partitions</h2><table><tr><th>tablet type</th><th>shards</th></tr>");
    for (t, shards) in &ks.serving {
        let _ = write!(b, "<tr><td>{t}</td><td>{}</td></tr>", esc(&shards.join(" ")));
    }
    b.push_str("</table><h2>Tablets</h2>");
    tablet_table(&mut b, tablets(&state, Some(&name), None).await);
    b.push_str("<h2>Workflows</h2>");
    if ks.workflows.is_empty() {
        b.push_str("<p class=muted>none</p>");
    } else {
        b.push_str("<table><tr><th>workflow</th><th>kind</th><th>state</th><th>from</th><th>to</th><th>reads switched</th><th>writes switched</th></tr>");
        for w in ks.workflows.values() {
            let _ = write!(
                b,
                "<tr><td><a href=\"/workflows#{}\">{}</a></td><td>{:?}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                super::url(&format!("{}.{}", ks.name, w.name)),
                esc(&w.name),
                w.kind,
                w.state,
                esc(&format!("{}/{}", w.source_keyspace, w.source_shards.join(","))),
                esc(&format!("{}/{}", w.target_keyspace, w.target_shards.join(","))),
                esc(&w.reads_switched.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")),
                w.writes_switched
            );
        }
        b.push_str("</table>");
    }
    super::workflows::vdiff_table(&mut b, &ks.vdiffs);
    page(&state, &format!("Keyspace {name}"), &b, true)
}

pub async fn shard(state: web::Data<WebState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (ks, name) = path.into_inner();
    let topo = state.view.snapshot();
    let Some(s) = topo.shard(&ks, &name) else {
        return not_found(&state, &format!("shard `{ks}/{name}` does not exist"));
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>keyspace {} &middot; key range {} &middot; primary {} (term {}) &middot; primary serving {} &middot; \
         denied tables {}</p><h2>Tablets</h2>",
        keyspace_link(&ks),
        s.key_range,
        s.primary.as_deref().map(tablet_link).unwrap_or_else(|| "none".into()),
        s.primary_term,
        s.is_primary_serving,
        esc(&format!("{:?}", s.denied_tables))
    );
    tablet_table(&mut b, tablets(&state, Some(&ks), Some(&name)).await);
    b.push_str("<h2>Backups</h2>");
    let req = AdminRequest::GetBackups { keyspace: ks.clone(), shard: name.clone(), limit: Some(20) };
    match admin(&state).request(&req).await {
        Ok(AdminResponse::Backups { backups, .. }) if backups.is_empty() => b.push_str("<p class=muted>none</p>"),
        Ok(AdminResponse::Backups { backups, .. }) => {
            b.push_str("<table><tr><th>backup</th><th>from tablet</th><th>engine</th><th>size</th><th>took</th><th>GTID position</th><th>topology seq</th></tr>");
            for bk in backups {
                match &bk.manifest {
                    Some(m) => {
                        let _ = write!(
                            b,
                            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} MiB</td><td>{}</td><td><code>{}</code></td><td><a href=\"/history?at={}\">{}</a></td></tr>",
                            esc(&bk.name),
                            tablet_link(&m.tablet_alias),
                            esc(&m.engine),
                            m.size() as f64 / 1_048_576.0,
                            super::ago(m.finished_ms.saturating_sub(m.started_ms)),
                            esc(&m.position),
                            m.topology_seq,
                            m.topology_seq
                        );
                    }
                    None => {
                        let _ = write!(
                            b,
                            "<tr><td>{}</td><td colspan=6 class=bad>incomplete (no manifest)</td></tr>",
                            esc(&bk.name)
                        );
                    }
                }
            }
            b.push_str("</table>");
        }
        Ok(_) => b.push_str("<p class=bad>unexpected answer to GetBackups</p>"),
        Err(e) => {
            let _ = write!(b, "<p class=muted>{}</p>", esc(&e.to_string()));
        }
    }
    page(&state, &format!("Shard {ks}/{name}"), &b, true)
}

pub async fn tablet(state: web::Data<WebState>, path: web::Path<String>) -> HttpResponse {
    let alias = path.into_inner();
    let topo = state.view.snapshot();
    let Some(t) = topo.tablets.get(&alias) else {
        return not_found(&state, &format!("tablet `{alias}` does not exist"));
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>shard {} &middot; keyspace {} &middot; cell {} &middot; node {} &middot; MySQL {}:{} ({})</p>",
        shard_link(&t.keyspace, &t.shard),
        keyspace_link(&t.keyspace),
        esc(&t.cell),
        esc(&t.node_id),
        esc(&t.mysql_host),
        t.mysql_port,
        if t.managed { "managed by tessera" } else { "external" }
    );
    let found = tablets(&state, Some(&t.keyspace), Some(&t.shard)).await;
    let mine = found.map(|all| all.into_iter().filter(|i| i.tablet.alias == alias).collect::<Vec<_>>());
    tablet_table(&mut b, mine.clone());
    if let Ok(Some(h)) = mine.map(|m| m.into_iter().next().and_then(|i| i.health)) {
        b.push_str("<h2>Replication</h2>");
        match &h.replication {
            Some(r) => {
                let _ = write!(
                    b,
                    "<table><tr><th>source</th><td>{}</td></tr><tr><th>IO / SQL thread</th><td>{} / {}</td></tr>\
                     <tr><th>lag</th><td>{}</td></tr><tr><th>GTID position</th><td><code>{}</code></td></tr>\
                     <tr><th>binlog position</th><td><code>{}</code></td></tr><tr><th>last error</th><td>{}</td></tr></table>",
                    esc(r.source.as_deref().unwrap_or("- (not replicating)")),
                    r.io_running,
                    r.sql_running,
                    r.lag_secs.map(|l| format!("{l}s")).unwrap_or_else(|| "-".into()),
                    esc(&r.position),
                    esc(&r.binlog_position),
                    esc(r.last_error.as_deref().unwrap_or("-"))
                );
            }
            None => b.push_str("<p class=muted>no replication status reported</p>"),
        }
        let _ = write!(
            b,
            "<p>server {} {} &middot; mysqld restarts {} &middot; report {} ago</p>",
            esc(&h.server_version),
            esc(&h.version_comment),
            h.mysqld_restarts,
            super::ago(now_ms().saturating_sub(h.time_ms))
        );
    }
    page(&state, &format!("Tablet {alias}"), &b, true)
}

/// The tablets table shared by the keyspace, shard and tablet pages.
pub(crate) fn tablet_table(b: &mut String, tablets: Result<Vec<TabletInfo>, String>) {
    let tablets = match tablets {
        Ok(t) => t,
        Err(e) => {
            let _ = write!(b, "<p class=bad>tablet health unavailable: {}</p>", esc(&e));
            return;
        }
    };
    if tablets.is_empty() {
        b.push_str("<p class=muted>none</p>");
        return;
    }
    b.push_str("<table><tr><th>tablet</th><th>shard</th><th>type</th><th>serving</th><th>health</th><th>lag</th><th>MySQL</th><th>node</th><th>version</th><th>last error</th></tr>");
    for i in tablets {
        let t = &i.tablet;
        let (serving, health, lag, version, error) = match &i.health {
            Some(h) => (
                if h.serving { "<span class=ok>serving</span>" } else { "<span class=bad>not serving</span>" },
                if i.stale {
                    "<span class=bad>stale report</span>"
                } else if h.mysqld_up {
                    "<span class=ok>mysqld up</span>"
                } else {
                    "<span class=bad>mysqld down</span>"
                },
                h.replication.as_ref().and_then(|r| r.lag_secs).map(|l| format!("{l}s")).unwrap_or_else(|| "-".into()),
                h.server_version.clone(),
                h.last_error.clone().unwrap_or_default(),
            ),
            None => ("-", "<span class=bad>no report</span>", "-".into(), String::new(), String::new()),
        };
        let ty = match i.primary_term {
            Some(term) => format!("{} (term {term})", t.tablet_type),
            None => t.tablet_type.to_string(),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{serving}</td><td>{health}</td><td>{lag}</td><td>{}:{}</td><td>{}</td><td>{}</td><td class=bad>{}</td></tr>",
            tablet_link(&t.alias),
            shard_link(&t.keyspace, &t.shard),
            ty,
            esc(&t.mysql_host),
            t.mysql_port,
            esc(&t.node_id),
            esc(&version),
            esc(&error)
        );
    }
    b.push_str("</table>");
}
