//! Readable text for admin replies (`tessera ctl` without `--json`).

use std::fmt::Write as _;

use crate::protocol::admin::AdminResponse;
use crate::protocol::topology::TabletType;
use crate::topo::state::{Keyspace, Shard};

/// Renders a reply as text, ending in a newline.
pub fn render(resp: &AdminResponse) -> String {
    let mut out = String::new();
    match resp {
        AdminResponse::Workflow { workflow, streams, steps } => {
            for step in steps {
                let _ = writeln!(out, "- {step}");
            }
            let w = workflow;
            let _ = writeln!(out, "workflow:   {} ({:?}, {:?})", w.id(), w.kind, w.state);
            let _ = writeln!(out, "source:     {}/{}", w.source_keyspace, w.source_shards.join(","));
            let _ = writeln!(out, "target:     {}/{}", w.target_keyspace, w.target_shards.join(","));
            let _ = writeln!(out, "tables:     {}", w.table_names().join(", "));
            let reads: Vec<String> = w.reads_switched.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(
                out,
                "traffic:    reads switched [{}], writes switched {}",
                reads.join(","),
                w.writes_switched
            );
            for s in streams {
                let _ = writeln!(out, "  {}", super::ctl_workflow::progress_line(s));
            }
        }
        AdminResponse::Backup { manifest: m } => {
            let _ = writeln!(out, "backup {} of {}/{} from {} complete", m.name, m.keyspace, m.shard, m.tablet_alias);
            let _ = writeln!(
                out,
                "  engine {}, {} files, {} bytes ({} stored), position {}, {} ms",
                m.engine,
                m.files.len(),
                m.size(),
                m.stored_size(),
                m.position,
                m.finished_ms.saturating_sub(m.started_ms)
            );
        }
        AdminResponse::Backups { keyspace, shard, backups } => {
            if backups.is_empty() {
                let _ = writeln!(out, "no backups of {keyspace}/{shard}");
            }
            let rows: Vec<Vec<String>> = backups
                .iter()
                .map(|b| match &b.manifest {
                    Some(m) => vec![
                        b.name.clone(),
                        crate::backup::pitr::format_utc(m.finished_ms),
                        m.engine.clone(),
                        m.size().to_string(),
                        m.position.clone(),
                        "complete".into(),
                    ],
                    None => vec![b.name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "partial".into()],
                })
                .collect();
            if !rows.is_empty() {
                table(&mut out, &["NAME", "FINISHED (UTC)", "ENGINE", "BYTES", "POSITION", "STATE"], &rows);
            }
        }
        AdminResponse::Transactions { transactions, unreachable, steps } => {
            for step in steps {
                let _ = writeln!(out, "{step}");
            }
            if transactions.is_empty() && steps.is_empty() {
                let _ = writeln!(out, "no distributed transaction in flight or in doubt");
            }
            let now = crate::protocol::envelope::now_ms();
            let rows: Vec<Vec<String>> = transactions
                .iter()
                .map(|t| {
                    let (decision, by, age, parts) = match &t.record {
                        Some(r) => (
                            format!("{:?}", r.decision).to_lowercase(),
                            r.decided_by.clone(),
                            format!("{:.1}s", now.saturating_sub(r.time_ms) as f64 / 1000.0),
                            r.participants
                                .iter()
                                .map(|p| format!("{}/{}", p.keyspace, p.shard))
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        None => ("none yet".into(), "-".into(), "-".into(), "-".into()),
                    };
                    let prepared = if t.prepared_on.is_empty() { "-".into() } else { t.prepared_on.join(",") };
                    vec![t.dtid.clone(), decision, by, age, parts, prepared]
                })
                .collect();
            if !rows.is_empty() {
                table(&mut out, &["DTID", "DECISION", "DECIDED BY", "AGE", "PARTICIPANTS", "PREPARED ON"], &rows);
            }
            for u in unreachable {
                let _ = writeln!(out, "not reached (its branches are unknown): {u}");
            }
        }
        AdminResponse::VDiff { report } => {
            let _ = writeln!(out, "vdiff {} of {}.{}: {}", report.id, report.keyspace, report.workflow, report.state);
            if !report.message.is_empty() {
                let _ = writeln!(out, "  {}", report.message);
            }
            let rows: Vec<Vec<String>> = report
                .tables
                .iter()
                .map(|t| {
                    [
                        t.table.clone(),
                        t.source_rows.to_string(),
                        t.target_rows.to_string(),
                        t.matching.to_string(),
                        t.missing.to_string(),
                        t.extra.to_string(),
                        t.different.to_string(),
                    ]
                    .to_vec()
                })
                .collect();
            if !rows.is_empty() {
                table(&mut out, &["TABLE", "SOURCE", "TARGET", "MATCHING", "MISSING", "EXTRA", "DIFFERENT"], &rows);
            }
            for t in &report.tables {
                for s in &t.samples {
                    let _ = writeln!(out, "  {}: {s}", t.table);
                }
            }
            if report.state == "completed" {
                let _ =
                    writeln!(out, "{}", if report.has_differences() { "DIFFERENCES FOUND" } else { "no differences" });
            }
        }
        AdminResponse::Done { message, seq } => {
            let _ = writeln!(out, "{message}");
            let _ = writeln!(out, "(topology sequence {seq})");
        }
        AdminResponse::CellNames { names } => names.iter().for_each(|n| {
            let _ = writeln!(out, "{n}");
        }),
        AdminResponse::Keyspace { keyspace } => keyspace_detail(&mut out, keyspace),
        AdminResponse::Keyspaces { keyspaces } => {
            let rows: Vec<Vec<String>> = keyspaces
                .iter()
                .map(|k| {
                    vec![k.name.clone(), vschema_kind(k).into(), k.shard_names().join(" "), k.durability_policy.clone()]
                })
                .collect();
            table(&mut out, &["KEYSPACE", "VSCHEMA", "SHARDS", "DURABILITY"], &rows);
        }
        AdminResponse::Shard { keyspace, shard } => {
            let _ = writeln!(out, "shard:      {keyspace}/{}", shard.name);
            shard_detail(&mut out, shard);
        }
        AdminResponse::Shards { shards, .. } => {
            let rows: Vec<Vec<String>> = shards.iter().map(shard_row).collect();
            table(&mut out, &["SHARD", "KEY RANGE", "SERVING", "PRIMARY", "TERM"], &rows);
        }
        AdminResponse::Tablets { tablets } => {
            let rows: Vec<Vec<String>> = tablets
                .iter()
                .map(|i| {
                    let t = &i.tablet;
                    let (state, lag, err) = match &i.health {
                        Some(h) => (
                            format!(
                                "{}{}",
                                if h.serving { "SERVING" } else { "NOT_SERVING" },
                                if i.stale { " (stale)" } else { "" }
                            ),
                            h.replication
                                .as_ref()
                                .and_then(|r| r.lag_secs)
                                .map(|l| format!("{l}s"))
                                .unwrap_or_else(|| "-".into()),
                            h.last_error.clone().unwrap_or_default(),
                        ),
                        None => ("UNKNOWN".into(), "-".into(), "no health report".into()),
                    };
                    // A primary the shard no longer names (replaced, not rejoined yet) says so.
                    let tablet_type = match (t.tablet_type, i.primary_term) {
                        (_, Some(term)) => format!("{} (term {term})", t.tablet_type),
                        (TabletType::Primary, None) => "primary (replaced)".to_string(),
                        (other, None) => other.to_string(),
                    };
                    vec![
                        t.alias.clone(),
                        t.keyspace.clone(),
                        t.shard.clone(),
                        tablet_type,
                        state,
                        format!("{}:{}", t.mysql_host, t.mysql_port),
                        lag,
                        t.node_id.clone(),
                        err,
                    ]
                })
                .collect();
            table(&mut out, &["ALIAS", "KEYSPACE", "SHARD", "TYPE", "STATE", "MYSQL", "LAG", "NODE", "ERROR"], &rows);
        }
        AdminResponse::Topology { topology } => {
            let _ = writeln!(out, "topology at sequence {}", topology.seq);
            let cells: Vec<&str> = topology.cells.keys().map(String::as_str).collect();
            let _ = writeln!(out, "cells: {}", if cells.is_empty() { "(none)".into() } else { cells.join(", ") });
            if topology.keyspaces.is_empty() {
                let _ = writeln!(out, "keyspaces: (none)");
            }
            for ks in topology.keyspaces.values() {
                let _ =
                    writeln!(out, "keyspace {} ({}, durability {})", ks.name, vschema_kind(ks), ks.durability_policy);
                for name in ks.shard_names() {
                    if let Some(s) = ks.shards.get(&name) {
                        let _ = writeln!(
                            out,
                            "  shard {:<8} {} primary {}",
                            s.name,
                            if s.is_primary_serving { "serving    " } else { "not serving" },
                            s.primary.as_deref().unwrap_or("-")
                        );
                        for t in topology.shard_tablets(&ks.name, &name) {
                            let _ = writeln!(out, "    tablet {} {} on {}", t.alias, t.tablet_type, t.node_id);
                        }
                    }
                }
            }
        }
        AdminResponse::VSchema { keyspace, vschema } => match vschema {
            Some(v) => {
                let _ = writeln!(out, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
            }
            None => {
                let _ = writeln!(out, "keyspace {keyspace} has no VSchema (apply one with ApplyVSchema)");
            }
        },
        AdminResponse::RoutingRules { rules, keyspace_rules } => {
            let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null);
            let both =
                serde_json::json!({"routing_rules": parse(rules), "keyspace_routing_rules": parse(keyspace_rules)});
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&both).unwrap_or_default());
        }
        AdminResponse::Nodes { nodes } => {
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    vec![
                        n.node.id.clone(),
                        n.node.cell.clone(),
                        n.node.host.clone(),
                        n.node.pid.to_string(),
                        n.node.http_addr.clone(),
                        format!("{:.1}s ago", n.last_seen_ms_ago as f64 / 1000.0),
                        n.topo_seq.to_string(),
                    ]
                })
                .collect();
            table(&mut out, &["NODE", "CELL", "HOST", "PID", "HTTP", "LAST SEEN", "TOPO SEQ"], &rows);
        }
        AdminResponse::Positions { tablets, .. } => {
            let rows: Vec<Vec<String>> = tablets
                .iter()
                .map(|p| {
                    vec![
                        p.alias.clone(),
                        p.tablet_type.to_string(),
                        if p.position.is_empty() { "-".into() } else { p.position.clone() },
                        p.source.clone().unwrap_or_else(|| "-".into()),
                        p.replicating.to_string(),
                        p.lag_secs.map(|l| format!("{l}s")).unwrap_or_else(|| "-".into()),
                        p.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table(&mut out, &["ALIAS", "TYPE", "POSITION", "SOURCE", "REPLICATING", "LAG", "ERROR"], &rows);
        }
        AdminResponse::Schema { alias, schema } => {
            let _ = writeln!(out, "-- schema of {alias}, database {}", schema.database);
            for t in &schema.tables {
                let _ = writeln!(out, "-- {} ({}, about {} rows)\n{};\n", t.name, t.kind, t.rows, t.create);
            }
        }
        AdminResponse::Json { json } => {
            let _ = writeln!(out, "{json}");
        }
        AdminResponse::Validation { scope, checked, problems } => {
            if problems.is_empty() {
                let _ = writeln!(out, "{scope}: no problems ({} checked)", checked.len());
            } else {
                let _ = writeln!(out, "{scope}: {} problems ({} checked):", problems.len(), checked.len());
                for p in problems {
                    let _ = writeln!(out, "- {p}");
                }
            }
        }
        AdminResponse::SchemaValidation { keyspace, reference, compared, differences } => {
            if differences.is_empty() {
                let _ = writeln!(
                    out,
                    "schema of {keyspace} is the same on all {} tablets (reference {reference})",
                    compared.len() + 1
                );
            } else {
                let _ = writeln!(
                    out,
                    "schema of {keyspace} differs ({} differences, reference {reference}):",
                    differences.len()
                );
                for d in differences {
                    let _ = writeln!(out, "- {d}");
                }
            }
        }
        AdminResponse::QueryResult { result, .. } => {
            let header: Vec<&str> = result.fields.iter().map(|f| f.name.as_str()).collect();
            let rows: Vec<Vec<String>> = result
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| {
                            v.as_ref().map_or_else(|| "NULL".to_string(), |b| String::from_utf8_lossy(b).into_owned())
                        })
                        .collect()
                })
                .collect();
            if !header.is_empty() {
                table(&mut out, &header, &rows);
            }
            let _ = writeln!(out, "({} rows, {} affected)", result.rows.len(), result.rows_affected);
        }
    }
    out
}

fn vschema_kind(k: &Keyspace) -> &'static str {
    match &k.vschema {
        Some(v) if v.sharded => "sharded",
        Some(_) => "unsharded",
        None => "no vschema",
    }
}

fn keyspace_detail(out: &mut String, k: &Keyspace) {
    let _ = writeln!(out, "keyspace:   {}", k.name);
    let _ = writeln!(out, "vschema:    {}", vschema_kind(k));
    let _ = writeln!(out, "durability: {}", k.durability_policy);
    let _ = writeln!(out, "shards:     {}", k.shard_names().join(" "));
    for tt in TabletType::SERVING {
        let shards = k.serving.get(&tt).map(|v| v.join(" ")).unwrap_or_default();
        let _ = writeln!(out, "serving {:<8} {}", tt.as_str(), shards);
    }
}

fn shard_detail(out: &mut String, s: &Shard) {
    let _ = writeln!(out, "key range:  {}", s.key_range);
    let _ = writeln!(out, "serving:    {}", s.is_primary_serving);
    let _ = writeln!(out, "primary:    {} (term {})", s.primary.as_deref().unwrap_or("-"), s.primary_term);
    for (tt, tables) in &s.denied_tables {
        let _ = writeln!(out, "denied {tt}: {}", tables.join(", "));
    }
}

fn shard_row(s: &Shard) -> Vec<String> {
    vec![
        s.name.clone(),
        s.key_range.to_string(),
        s.is_primary_serving.to_string(),
        s.primary.clone().unwrap_or_else(|| "-".into()),
        s.primary_term.to_string(),
    ]
}

/// Left-aligned columns with a header.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |out: &mut String, cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(out, header.to_vec());
    for row in rows {
        line(out, row.iter().map(String::as_str).collect());
    }
}
