//! `explain format=vitess <query>` and `vexplain [plan] <query>`: the plan the gateway chose,
//! one line per row — which shards, what runs where.

use crate::plan::pipeline::{Pipeline, Proj, Source};
use crate::plan::Plan;

/// The query an EXPLAIN asks about, when it asks for tessera's plan (not MySQL's).
pub fn vitess_explain<'a>(kw: &str, rest: &'a str) -> Option<&'a str> {
    let lower = rest.to_ascii_lowercase();
    match kw {
        "EXPLAIN" => {
            let compact: String = lower.chars().take(20).filter(|c| !c.is_whitespace()).collect();
            if !compact.starts_with("format=vitess") {
                return None;
            }
            let at = lower.find("vitess")? + "vitess".len();
            Some(rest[at..].trim())
        }
        "VEXPLAIN" => {
            for word in ["plan", "all", "queries"] {
                if lower.starts_with(word) && lower[word.len()..].starts_with(char::is_whitespace) {
                    return Some(rest[word.len()..].trim());
                }
            }
            Some(rest)
        }
        _ => None,
    }
}

/// The plan as indented lines.
pub fn render(p: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    match p {
        Plan::Set(items) => out.push(format!("Set (session): {}", describe_set(items))),
        Plan::Kill { id, connection } => out.push(format!("Kill gateway session {id} (connection: {connection})")),
        Plan::Route { keyspace, shards, sql, tablet_type } => {
            out.push(format!("Route {keyspace} {} on {}: {sql}", shard_list(shards), tablet_type));
        }
        Plan::Select(pl) => pipeline(pl, 0, &mut out),
        Plan::Pullout(pp) => {
            out.push("Pullout: run these first, substitute their values, plan the statement again".into());
            for s in &pp.subqueries {
                out.push(format!("  Subquery: {s}"));
            }
            for k in &pp.keyed {
                out.push(format!("  Correlated subquery, run once grouped by its correlation: {k}"));
            }
            out.push(format!("  Outer: {}", pp.fill.describe()));
        }
        Plan::Lookup(lp) => {
            match &lp.filter {
                Some((l, values)) => out.push(format!(
                    "Lookup {}: rows' shards from {}.{} ({} -> {}) for {} value(s), then on those of {}: {}",
                    lp.keyspace,
                    l.keyspace,
                    l.table,
                    l.from.join(","),
                    l.to,
                    values.len(),
                    shard_list(&lp.shards),
                    lp.sql
                )),
                None => out.push(format!("Route {} {}: {}", lp.keyspace, shard_list(&lp.shards), lp.sql)),
            }
            if let Some((select, vindex, lookups)) = &lp.cleanup {
                let names: Vec<&str> = lookups.iter().map(|l| l.name.as_str()).collect();
                out.push(format!(
                    "  First unmap [{}] for the rows of: {select} (keyspace ids by `{vindex}`)",
                    names.join(", ")
                ));
            }
        }
        Plan::Insert(ip) => {
            out.push(format!(
                "Insert into {} split by vindex `{}`: {}<rows>{}",
                ip.keyspace, ip.vindex, ip.head, ip.tail
            ));
            for r in &ip.rows {
                let at = match &r.vindex_value {
                    Some(v) => format!("vindex value {}", v.to_sql()),
                    None => "vindex value from the sequence".to_string(),
                };
                out.push(format!("  Row ({}) by {at}", r.cells.join(", ")));
            }
            if let Some(ai) = &ip.auto_increment {
                out.push(format!(
                    "  {} id(s) from sequence {}.{} into column {}",
                    ai.missing.len(),
                    ai.seq_keyspace,
                    ai.seq_table,
                    ai.column_index + 1
                ));
            }
            for l in &ip.lookups {
                out.push(format!("  Map owned lookup {} in {}.{}", l.name, l.keyspace, l.table));
            }
        }
        Plan::NextValues { keyspace, table, count } => {
            out.push(format!("NextValues {count} from sequence {keyspace}.{table}"))
        }
        Plan::Local(l) => out.push(format!("Gateway answers: {}", local(l))),
        Plan::Use(t) => out.push(format!("Use {}", t.display().unwrap_or_else(|| "(no keyspace)".into()))),
        Plan::NeedColumns { keyspace, shard, table } => out.push(format!(
            "Insert without a column list: ask {keyspace}/{shard} for the columns of `{table}`, then plan it with them"
        )),
        Plan::Begin => out.push("Begin".into()),
        Plan::Commit => out.push("Commit".into()),
        Plan::Rollback => out.push("Rollback".into()),
        Plan::InsertSelect { head, select, tail } => {
            out.push(format!("InsertSelect: `{select}`, then its rows as `{head}(...){tail}`, routed row by row"))
        }
        Plan::FoundRows { query, count } => {
            out.push(format!("FoundRows: `{count}` (what FOUND_ROWS() answers next), then `{query}`"))
        }
        Plan::SetStatement { items, statement } => {
            out.push(format!("SetStatement: {} variable(s) for `{statement}`", items.len()))
        }
        Plan::Savepoint { op, name } => out.push(format!("Savepoint {op:?} {name} on every shard of the transaction")),
        Plan::Fanout { sql, targets } => {
            let list: Vec<String> = targets.iter().map(|(k, s)| format!("{k}/{s}")).collect();
            out.push(format!("Fanout to the reference table's source and copies [{}]: {sql}", list.join(", ")));
        }
        Plan::DmlInput(d) => {
            out.push(format!("DmlWithInput: {}", d.action.describe()));
            for k in &d.keys {
                out.push(format!("  primary key of {}.{} (asked of shard {})", k.keyspace, k.table, k.shard));
            }
        }
    }
    out
}

fn local(l: &crate::plan::Local) -> String {
    use crate::plan::Local;
    match l {
        Local::Databases => "databases".into(),
        Local::VitessKeyspaces => "keyspaces".into(),
        Local::VitessShards => "shards".into(),
        Local::VitessTablets => "tablets".into(),
        Local::SessionSelect { items, .. } => {
            let names: Vec<String> = items.iter().map(|(n, i)| format!("{n} ({i:?})")).collect();
            format!("session values [{}]", names.join(", "))
        }
        Local::ShowVariables { keyspace, shard, sql, session } => {
            format!("{sql} on {keyspace}/{shard}{}", if *session { ", with the session's values" } else { "" })
        }
        Local::Explain(lines) => format!("an explain of {} line(s)", lines.len()),
        Local::ProcessListQuery { keyspace, shard, sql } => {
            format!("{sql} on {keyspace}/{shard}, the gateway's sessions as information_schema.PROCESSLIST")
        }
        Local::ProcessList { full } => {
            format!("the gateway's sessions{}", if *full { ", statements whole" } else { "" })
        }
        Local::EachKeyspace { tablets, sql, sum_tables, .. } => {
            let at: Vec<String> = tablets.iter().map(|(k, s)| format!("{k}/{s}")).collect();
            let how = if *sum_tables { "a table's shards as one row, counts summed" } else { "repeated rows once" };
            format!("{sql} on each of [{}], {how}", at.join(", "))
        }
    }
}

/// `SET` items as one line.
fn describe_set(items: &[crate::sql::set::SetItem]) -> String {
    use crate::sql::set::SetItem;
    let parts: Vec<String> = items
        .iter()
        .map(|i| match i {
            SetItem::User { name, expr } => format!("@{name} = {expr}"),
            SetItem::System { name, scope, expr } => format!("{scope:?} {name} = {expr}"),
            SetItem::Names { charset, collation } => format!(
                "NAMES {}{}",
                charset.as_deref().unwrap_or("DEFAULT"),
                collation.as_ref().map(|c| format!(" COLLATE {c}")).unwrap_or_default()
            ),
            SetItem::Transaction { scope, isolation, read_only } => format!(
                "{scope:?} TRANSACTION{}{}",
                isolation.map(|i| format!(" ISOLATION LEVEL {}", i.as_sql())).unwrap_or_default(),
                read_only.map(|r| if r { " READ ONLY" } else { " READ WRITE" }).unwrap_or_default()
            ),
        })
        .collect();
    parts.join(", ")
}

fn shard_list(shards: &[String]) -> String {
    if shards.len() == 1 {
        format!("shard {}", shards[0])
    } else {
        format!("scatter over {} shards [{}]", shards.len(), shards.join(", "))
    }
}

fn pipeline(p: &Pipeline, depth: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    let mut stages = Vec::new();
    if let Some(l) = p.limit {
        stages.push(format!("Limit {l} offset {}", p.offset));
    }
    if !p.order.is_empty() {
        stages.push(format!("Sort by {} key(s) in the gateway", p.order.len()));
    }
    if p.distinct {
        stages.push("Distinct".into());
    }
    if !p.project.is_empty() {
        let names: Vec<String> = p
            .project
            .iter()
            .map(|i| match i {
                Proj::Expr(_, n) => n.clone(),
                Proj::Star(Some(t)) => format!("{t}.*"),
                Proj::Star(None) => "*".into(),
            })
            .collect();
        stages.push(format!("Project [{}]", names.join(", ")));
    }
    if p.having.is_some() {
        stages.push("Filter (HAVING) in the gateway".into());
    }
    if let Some(g) = &p.grouping {
        let aggs: Vec<String> =
            g.aggs.iter().map(|a| format!("{}{}", a.name, if a.merge { " (merge partials)" } else { "" })).collect();
        stages.push(format!(
            "Aggregate group by [{}] computing [{}]",
            g.keys.iter().map(|k| k.2.clone()).collect::<Vec<_>>().join(", "),
            aggs.join(", ")
        ));
    }
    if p.filter.is_some() {
        stages.push("Filter (WHERE across routes) in the gateway".into());
    }
    for (i, s) in stages.iter().enumerate() {
        out.push(format!("{pad}{}{s}", "  ".repeat(i)));
    }
    source(&p.source, depth + stages.len(), out);
}

fn source(s: &Source, depth: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    match s {
        Source::Route(r) => {
            let merge = if r.merge.is_empty() || r.shards.len() < 2 { "" } else { " (merge-sorted)" };
            out.push(format!("{pad}Route {} {}{merge}: {}", r.keyspace, shard_list(&r.shards), r.sql));
        }
        Source::Join(j) => {
            out.push(format!(
                "{pad}{} nested loop, {} left rows per right query, join on {} key(s)",
                if j.kind == crate::plan::pipeline::JoinKind::Left { "LeftJoin" } else { "Join" },
                crate::plan::pipeline::JOIN_BATCH,
                j.keys.len()
            ));
            source(&j.left, depth + 1, out);
            let keys: Vec<String> = j.keys.iter().map(|k| format!("{} in (::left values)", k.right_sql)).collect();
            let mut preds = j.right_where.clone();
            preds.extend(keys);
            out.push(format!(
                "{pad}  Route {} {}{}: {}{}",
                j.right_keyspace,
                shard_list(&j.right_shards),
                if j.right_vindex.is_some() { " (routed by the join values)" } else { "" },
                j.right_select,
                if preds.is_empty() { String::new() } else { format!(" where {}", preds.join(" and ")) }
            ));
        }
        Source::Derived(p, alias) => {
            out.push(format!("{pad}Derived table `{alias}`"));
            pipeline(p, depth + 1, out);
        }
        Source::Union(parts, distinct) => {
            out.push(format!("{pad}Union{}", if *distinct { " distinct" } else { " all" }));
            for part in parts {
                pipeline(part, depth + 1, out);
            }
        }
    }
}
