//! Planning one statement: parse (sqlparser, MySQL dialect), resolve keyspaces and tables
//! against the VSchema, and decide where it runs. What cannot be planned is an error that names
//! the construct, never a wrong answer.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{visit_relations_mut, Expr, ObjectName, ObjectNamePart, SetExpr, Statement};
use sqlparser::tokenizer::Location;

use super::lookup;
use super::scatter_check::check_scatter_select;
use super::show::plan_show;
use super::system::{plan_set, session_select};
pub use super::values::{combinations, literal, vindex_values};
use crate::plan::{GatewayError, Local, LookupPlan, Plan, Target};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::sql::{first_keyword, next_values, skip_noise, Keyword};
use crate::topo::state::Keyspace;
use crate::vindex::Configured;

/// Plans one statement (no `;`-separated lists).
pub fn plan(sql: &str, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    plan_keyword(sql, first_keyword(sql), target, view)
}

/// [`plan`] for a statement whose first keyword is already known.
pub fn plan_keyword(sql: &str, kw: Keyword, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let text = skip_noise(sql).trim().trim_end_matches(';').trim();
    let rest = text.get(kw.len()..).unwrap_or("").trim();
    match kw.as_str() {
        "USE" => {
            let t = Target::parse(rest)?;
            // A keyspace a keyspace routing rule sends elsewhere may be used by its old name.
            if let Some(ks) = t.keyspace.as_ref().filter(|ks| view.keyspace_rule(ks, t.tablet_type).is_none()) {
                let k = view.keyspace(ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.clone()))?;
                if let Some(sh) = &t.shard {
                    if !k.shards.contains_key(sh) {
                        return Err(GatewayError::Routing {
                            keyspace: ks.clone(),
                            message: format!("no shard `{sh}`"),
                        });
                    }
                }
            }
            return Ok(Plan::Use(t));
        }
        "KILL" => {
            let (id, connection) = super::system::parse_kill(rest)?;
            return Ok(Plan::Kill { id, connection });
        }
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
            if let Some(p) = super::transaction::plan(kw.as_str(), rest) {
                return p;
            }
        }
        "SET" => return plan_set(rest),
        "CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE" => {
            if let Some(p) = super::ddl::plan(kw.as_str(), rest, text, target, view)? {
                return Ok(p);
            }
        }
        "LOCK" | "UNLOCK" => {
            // mariadb-dump's `LOCK TABLES t WRITE` around its inserts: a lock held by one pooled
            // tablet connection would outlive the statement and block every other session, so
            // the gateway takes none (documented: LOCK TABLES does not lock).
            let second = rest.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if matches!(second.as_str(), "TABLES" | "TABLE") {
                return Ok(Plan::Set(Vec::new()));
            }
        }
        "EXPLAIN" | "VEXPLAIN" | "DESCRIBE" | "DESC" => {
            if let Some(inner) = crate::planner::explain::vitess_explain(kw.as_str(), rest) {
                let p = plan(inner, target, view)?;
                return Ok(Plan::Local(Local::Explain(crate::planner::explain::render(&p))));
            }
            if kw != "VEXPLAIN" {
                return super::show::plan_describe(kw.as_str(), rest, target, view);
            }
        }
        "SHOW" => {
            if let Some(p) = plan_show(rest, target, view)? {
                return Ok(p);
            }
        }
        "SELECT" => {
            if let Some(nv) = next_values::parse(text) {
                let nv = nv.map_err(GatewayError::Syntax)?;
                let ks =
                    view.sequence_keyspace(nv.keyspace.as_deref(), &nv.table).ok_or_else(|| GatewayError::Routing {
                        keyspace: nv.keyspace.clone().unwrap_or_default(),
                        message: format!("`{}` is not a sequence table in any VSchema", nv.table),
                    })?;
                return Ok(Plan::NextValues { keyspace: ks, table: nv.table, count: nv.count });
            }
            if contains_ignore_case(text, "SQL_CALC_FOUND_ROWS") {
                if let Some(p) = super::found_rows::plan_found_rows(text, target, view)? {
                    return Ok(p);
                }
            }
        }
        _ => {}
    }
    // The statement as the client wrote it (after literals were re-quoted for the tablets):
    // what a route sends whole.
    let source = sql.trim().trim_end_matches(';').trim_end();
    let mut stmts = match crate::sql::parse::parse(source) {
        Ok(stmts) => stmts,
        // What the parser does not know, MariaDB may: where the statement needs no routing
        // (one shard named, or an unsharded keyspace), it goes as written and MariaDB decides.
        Err(crate::sql::parse::ParseError::Syntax(e)) => {
            return unparsed_to_one_shard(source, target, view).ok_or(GatewayError::Syntax(e))
        }
        Err(deep) => return Err(deep.into()),
    };
    if stmts.len() != 1 {
        return Err(GatewayError::Syntax("expected one statement".into()));
    }
    let stmt = stmts.remove(0);
    if text.len() > 18 && contains_ignore_case(text, "information_schema") {
        match super::infoschema::tables(&stmt) {
            (0, _) => {}
            (_, 0) => return super::infoschema::plan(&stmt, source, target, view),
            _ => {
                return Err(GatewayError::Unsupported(
                    "a statement over information_schema and keyspace tables together; query them apart".into(),
                ))
            }
        }
    }
    let query = match &stmt {
        Statement::Query(q) => {
            if let Some(items) = session_select(q) {
                let tablet = any_tablet(target, view).ok();
                return Ok(Plan::Local(Local::SessionSelect { items, tablet }));
            }
            Some(q.clone())
        }
        _ => None,
    };
    let dml = matches!(stmt, Statement::Update(_) | Statement::Delete(_) | Statement::Insert(_)).then(|| stmt.clone());
    match (plan_statement(stmt, target, view, Some(source)), query) {
        (Err(GatewayError::Unsupported(_)), Some(q)) => crate::planner::plan_query(&q, target, view),
        // INSERT ... SELECT over other shards or keyspaces: the SELECT first, then its rows.
        // UPDATE/DELETE with subqueries the shards cannot answer with them: those first.
        (Err(e @ GatewayError::Unsupported(_)), None) => match dml.as_ref() {
            Some(stmt @ Statement::Insert(_)) => {
                super::insert::plan_cross_insert_select(stmt, target, view).unwrap_or(Err(e))
            }
            // Multi-table, cross-keyspace, correlated: a SELECT finds the rows, then by key.
            Some(stmt) => {
                super::dml_subquery::plan(stmt).map_or_else(|| super::dml_input::plan(stmt, target, view), Ok)
            }
            None => Err(e),
        },
        (other, _) => other,
    }
}

/// A statement the parser refused, for the session's single shard: an explicit shard target,
/// or an unsharded keyspace's one serving shard. `None` when the target needs routing.
fn unparsed_to_one_shard(source: &str, target: &Target, view: &RoutingView) -> Option<Plan> {
    let ks_name = target.keyspace.as_ref()?;
    let ks = view.keyspace(ks_name)?;
    let shard = match &target.shard {
        Some(s) => s.clone(),
        None if !ks.vschema.as_ref().is_some_and(|v| v.sharded) => {
            let shards = view.serving_shards(ks, target.tablet_type);
            let [one] = shards.as_slice() else { return None };
            one.clone()
        }
        None => return None,
    };
    Some(Plan::Route {
        keyspace: ks_name.clone(),
        shards: vec![shard],
        sql: source.to_string(),
        tablet_type: target.tablet_type,
    })
}

pub(super) fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Plans a query: sent whole where one route answers it, else by the cross-shard planner.
pub fn plan_query_stmt(q: &sqlparser::ast::Query, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    match plan_statement(Statement::Query(Box::new(q.clone())), target, view, None) {
        Err(GatewayError::Unsupported(_)) => crate::planner::plan_query(q, target, view),
        other => other,
    }
}

/// Plans a statement; `source` is its text, sent as it is where the statement goes whole.
fn plan_statement(
    mut stmt: Statement,
    target: &Target,
    view: &RoutingView,
    source: Option<&str>,
) -> Result<Plan, GatewayError> {
    let (ks_name, tables, cuts) = resolve(&mut stmt, target, view)?;
    // The text a route sends: the client's own, without keyspace qualifiers; printed from the
    // tree only when the qualifiers cannot be cut out of the text.
    let sent = |stmt: &Statement| -> String {
        match (source, &cuts) {
            (Some(src), Some(cuts)) => cut(src, cuts).unwrap_or_else(|| stmt.to_string()),
            _ => stmt.to_string(),
        }
    };
    let Some(ks_name) = ks_name else {
        // No table at all (`select 1 + 1`, `select now()`): any tablet answers it as MySQL would.
        let (keyspace, shard) = any_tablet(target, view)?;
        return Ok(Plan::Route { keyspace, shards: vec![shard], sql: sent(&stmt), tablet_type: target.tablet_type });
    };
    let ks = view.keyspace(&ks_name).ok_or_else(|| GatewayError::UnknownKeyspace(ks_name.clone()))?;
    let route = |shards: Vec<String>, stmt: &Statement| Plan::Route {
        keyspace: ks_name.clone(),
        shards,
        sql: sent(stmt),
        tablet_type: target.tablet_type,
    };
    // An explicit shard target, or an unsharded keyspace: the statement goes as it is.
    if target.keyspace.as_deref() == Some(ks_name.as_str()) {
        if let Some(shard) = &target.shard {
            return Ok(route(vec![shard.clone()], &stmt));
        }
    }
    let sharded = ks.vschema.as_ref().is_some_and(|v| v.sharded);
    if !sharded && !matches!(stmt, Statement::Query(_)) {
        if let Some(p) = super::reference::source_write(view, &ks_name, &tables, || sent(&stmt))? {
            return Ok(p);
        }
    }
    if !sharded {
        let shards = view.serving_shards(ks, target.tablet_type);
        let [shard] = shards.as_slice() else {
            return Err(GatewayError::Routing {
                keyspace: ks_name.clone(),
                message: format!(
                    "has {} serving shards but no sharded VSchema; apply one to route by vindex",
                    shards.len()
                ),
            });
        };
        return Ok(route(vec![shard.clone()], &stmt));
    }
    if let Statement::Query(q) = &stmt {
        if let Some(with) = &q.with {
            let ctes: Vec<&str> = with.cte_tables.iter().map(|c| c.alias.name.value.as_str()).collect();
            if with.recursive && tables.iter().all(|t| ctes.contains(&t.as_str())) {
                // A recursive CTE over no table of the keyspace: any one shard computes it.
                let shard = view
                    .serving_shards(ks, target.tablet_type)
                    .into_iter()
                    .next()
                    .ok_or_else(|| no_shards(&ks_name))?;
                return Ok(route(vec![shard], &stmt));
            }
            // CTEs are inlined by the cross-shard planner.
            return Err(GatewayError::Unsupported("WITH across shards".into()));
        }
    }
    let table = single_table(&ks_name, &tables)?;
    if let Some(source) = view.reference(&ks_name, &table) {
        return super::reference::plan(
            view,
            ks,
            &table,
            source,
            target,
            sent(&stmt),
            matches!(stmt, Statement::Query(_)),
        );
    }
    match stmt {
        Statement::Query(ref q) => {
            let shards = shards_for_where(view, ks, &table, select_where(q), target.tablet_type)?;
            if shards.len() > 1 {
                // What the shards' rows cannot simply be concatenated for (ORDER BY, aggregates,
                // ...) goes to the cross-shard planner, which reads every shard.
                check_scatter_select(q)?;
                if let Some(f) = lookup::filter(view, ks, &table, select_where(q))? {
                    return Ok(lookup_plan(&ks_name, sent(&stmt), target, Some(f), shards, None));
                }
            }
            Ok(route(shards, &stmt))
        }
        Statement::Update(ref u) => {
            let vcols = primary(view, ks, &table)?.0;
            let sets = |col: &str| {
                u.assignments.iter().any(|a| {
                    a.target
                        .to_string()
                        .rsplit('.')
                        .next()
                        .is_some_and(|c| c.trim_matches('`').eq_ignore_ascii_case(col))
                })
            };
            // A row whose vindex or owned lookup column changes moves: delete, insert again.
            if vcols.iter().any(|c| sets(c))
                || lookup::owned(view, ks, &table)?.iter().flat_map(|(cs, _)| cs).any(|c| sets(c))
            {
                return with_input(source, target, view);
            }
            let shards = shards_for_where(view, ks, &table, u.selection.as_ref(), target.tablet_type)?;
            let limited = u.limit.is_some() || !u.order_by.is_empty();
            if shards.len() > 1 {
                if limited {
                    return with_input(source, target, view);
                }
                if let Some(f) = lookup::filter(view, ks, &table, u.selection.as_ref())? {
                    return Ok(lookup_plan(&ks_name, sent(&stmt), target, Some(f), shards, None));
                }
            }
            Ok(route(shards, &stmt))
        }
        Statement::Delete(ref d) => {
            let shards = shards_for_where(view, ks, &table, d.selection.as_ref(), target.tablet_type)?;
            if shards.len() > 1 && (d.limit.is_some() || !d.order_by.is_empty()) {
                return with_input(source, target, view);
            }
            let filter = if shards.len() > 1 { lookup::filter(view, ks, &table, d.selection.as_ref())? } else { None };
            let owned = lookup::owned(view, ks, &table)?;
            let cleanup = if owned.is_empty() {
                None
            } else {
                let (pv, vindex) = primary_vindex(view, ks, &table)?;
                let mut cols = vec![crate::sql::quote_ident(&pv)];
                cols.extend(owned.iter().flat_map(|(cs, _)| cs).map(|c| crate::sql::quote_ident(c)));
                let mut select = format!("select {} from {}", cols.join(", "), crate::sql::quote_ident(&table));
                if let Some(w) = &d.selection {
                    select.push_str(&format!(" where {w}"));
                }
                select.push_str(" for update");
                Some((select, vindex, owned.into_iter().map(|(_, l)| l).collect()))
            };
            if filter.is_some() || cleanup.is_some() {
                return Ok(lookup_plan(&ks_name, sent(&stmt), target, filter, shards, cleanup));
            }
            Ok(route(shards, &stmt))
        }
        Statement::Insert(ins) => super::insert::plan_insert(view, ks, &table, ins),
        // Table maintenance runs on every shard; each shard's report is a row of the answer.
        Statement::Analyze(_) | Statement::OptimizeTable { .. } => {
            Ok(route(view.serving_shards(ks, target.tablet_type), &stmt))
        }
        other => Err(GatewayError::Unsupported(format!(
            "`{}` in sharded keyspace `{ks_name}`; target one shard (`use {ks_name}/<shard>`) to run it there",
            other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        ))),
    }
}

/// The statement (as the client wrote it: `source`) as a DML with input.
fn with_input(source: Option<&str>, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let src = source.ok_or_else(|| GatewayError::Unsupported("an UPDATE or DELETE without its text".into()))?;
    let stmts = crate::sql::parse::parse(src).map_err(GatewayError::from)?;
    let [stmt] = stmts.as_slice() else { return Err(GatewayError::Syntax("expected one statement".into())) };
    super::dml_input::plan(stmt, target, view)
}

fn lookup_plan(
    ks: &str,
    sql: String,
    target: &Target,
    filter: Option<crate::plan::LookupFilter>,
    shards: Vec<String>,
    cleanup: Option<(String, String, Vec<crate::plan::LookupDef>)>,
) -> Plan {
    Plan::Lookup(Box::new(LookupPlan {
        keyspace: ks.to_string(),
        sql,
        tablet_type: target.tablet_type,
        filter,
        shards,
        cleanup,
    }))
}

pub(super) fn no_shards(ks: &str) -> GatewayError {
    GatewayError::Routing { keyspace: ks.to_string(), message: "has no serving shards".into() }
}

/// The session's keyspace, or any keyspace with a serving shard.
/// The keyspace and shard that answer a statement about no table: the session's shard when it
/// targets one (`use ks/-80`), else the first serving shard of its keyspace (or of any).
pub(super) fn any_tablet(target: &Target, view: &RoutingView) -> Result<(String, String), GatewayError> {
    let ks = any_keyspace(target, view)?;
    let shard = match (&target.shard, target.keyspace.as_deref() == Some(ks.name.as_str())) {
        (Some(s), true) => s.clone(),
        _ => view.serving_shards(ks, TabletType::Primary).into_iter().next().ok_or_else(|| no_shards(&ks.name))?,
    };
    Ok((ks.name.clone(), shard))
}

fn any_keyspace<'a>(target: &Target, view: &'a RoutingView) -> Result<&'a Keyspace, GatewayError> {
    if let Some(ks) = &target.keyspace {
        let ks = view.keyspace_rule(ks, target.tablet_type).unwrap_or(ks);
        return view.keyspace(ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.to_string()));
    }
    view.topo
        .keyspaces
        .values()
        .find(|k| !k.shards.is_empty())
        .ok_or_else(|| GatewayError::Other("no keyspace has a shard yet to run this statement".into()))
}

type Resolved = (Option<String>, Vec<String>, Option<Vec<(Location, Location)>>);

/// Resolves every table name to its keyspace and strips keyspace qualifiers (the tablet's
/// database is the keyspace's). Returns the one keyspace, the tables named, and the text spans
/// of the qualifiers stripped (`None` when a span is unknown: print the tree instead).
fn resolve(stmt: &mut Statement, target: &Target, view: &RoutingView) -> Result<Resolved, GatewayError> {
    let mut keyspaces = BTreeSet::new();
    let mut tables = Vec::new();
    let mut error = None;
    let mut cuts = Some(Vec::new());
    let _ = visit_relations_mut(stmt, |name: &mut ObjectName| {
        let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_string()).collect();
        let (qualifier, t) = match parts.as_slice() {
            [t] => (None, t.clone()),
            [ks, t] => {
                if view.keyspace(ks).is_none() && view.keyspace_rule(ks, target.tablet_type).is_none() {
                    error = Some(GatewayError::UnknownKeyspace(ks.clone()));
                    return ControlFlow::Break(());
                }
                let span = |p: &ObjectNamePart| p.as_ident().map(|i| i.span.start).filter(|l| l.line > 0);
                match (name.0.first().and_then(span), name.0.last().and_then(span)) {
                    (Some(from), Some(to)) => {
                        if let Some(c) = cuts.as_mut() {
                            c.push((from, to));
                        }
                    }
                    _ => cuts = None,
                }
                let last = name.0.last().cloned();
                if let Some(last) = last {
                    *name = ObjectName(vec![last]);
                }
                (Some(ks.as_str()), t.clone())
            }
            _ => {
                error = Some(GatewayError::Syntax(format!("`{name}` has too many qualifiers")));
                return ControlFlow::Break(());
            }
        };
        let ks = match view.table_keyspace(qualifier, target.keyspace.as_deref(), &t, target.tablet_type) {
            Ok(ks) => ks,
            Err(many) if many.is_empty() => {
                error = Some(GatewayError::NoDatabase);
                return ControlFlow::Break(());
            }
            Err(many) => {
                error = Some(GatewayError::Routing {
                    keyspace: many.join(","),
                    message: format!("table `{t}` is in several keyspaces; qualify it or `use` one"),
                });
                return ControlFlow::Break(());
            }
        };
        let table = t;
        keyspaces.insert(ks);
        tables.push(table);
        ControlFlow::Continue(())
    });
    if let Some(e) = error {
        return Err(e);
    }
    if keyspaces.len() > 1 {
        return Err(GatewayError::Unsupported(format!(
            "a statement over several keyspaces ({}); cross-keyspace queries arrive with the cross-shard planner",
            keyspaces.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let ks = keyspaces.into_iter().next();
    if let Some(ks) = &ks {
        if view.keyspace(ks).is_none() {
            return Err(GatewayError::UnknownKeyspace(ks.clone()));
        }
    }
    Ok((ks, tables, cuts))
}

/// `src` without the text between each pair of locations (1-based lines and columns in
/// characters, as sqlparser counts them); `None` if a location is not in the text.
fn cut(src: &str, cuts: &[(Location, Location)]) -> Option<String> {
    if cuts.is_empty() {
        return Some(src.to_string());
    }
    let mut line_starts = vec![0usize];
    line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |l: Location| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(l.line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(l.column).ok()?.checked_sub(1)?;
        src[start..].char_indices().nth(col).map(|(i, _)| start + i)
    };
    let mut ranges = cuts.iter().map(|(a, b)| Some((offset(*a)?, offset(*b)?))).collect::<Option<Vec<_>>>()?;
    ranges.sort_unstable();
    let mut out = String::with_capacity(src.len());
    let mut copied = 0;
    for (from, to) in ranges {
        if from < copied || to < from {
            return None;
        }
        out.push_str(&src[copied..from]);
        copied = to;
    }
    out.push_str(&src[copied..]);
    Some(out)
}

fn single_table(ks: &str, tables: &[String]) -> Result<String, GatewayError> {
    let distinct: BTreeSet<&String> = tables.iter().collect();
    match distinct.into_iter().collect::<Vec<_>>().as_slice() {
        [t] => Ok((*t).clone()),
        [] => Err(GatewayError::Unsupported(format!("a statement without a table in sharded keyspace `{ks}`"))),
        many => Err(GatewayError::Unsupported(format!(
            "joins and subqueries over several tables ({}) in sharded keyspace `{ks}`; they arrive with the cross-shard planner",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The primary vindex of a table: its columns (one, or several for `multicol`/`region_*`) and
/// its name. A lookup vindex as the primary vindex is refused.
pub(super) fn primary(view: &RoutingView, ks: &Keyspace, table: &str) -> Result<(Vec<String>, String), GatewayError> {
    let vs = ks
        .vschema
        .as_ref()
        .ok_or_else(|| GatewayError::UnknownTable { keyspace: ks.name.clone(), table: table.into() })?;
    let t = vs
        .tables
        .get(table)
        .ok_or_else(|| GatewayError::UnknownTable { keyspace: ks.name.clone(), table: table.into() })?;
    let cv = t.column_vindexes.first().ok_or_else(|| GatewayError::Routing {
        keyspace: ks.name.clone(),
        message: format!("table `{table}` has no primary vindex"),
    })?;
    let cols: Vec<String> = cv.column_list().into_iter().map(str::to_string).collect();
    match view.vindexes.get(&ks.name).and_then(|v| v.get(&cv.name)) {
        Some(Configured::Functional(_)) if cols.len() == 1 => Ok((cols, cv.name.clone())),
        Some(Configured::Multi(m)) if m.column_count() == cols.len() => Ok((cols, cv.name.clone())),
        Some(Configured::Functional(_) | Configured::Multi(_)) => Err(GatewayError::Routing {
            keyspace: ks.name.clone(),
            message: format!("vindex `{}` of `{table}` does not read {} column(s)", cv.name, cols.len()),
        }),
        // A unique lookup the table does not own: a value's keyspace id is read from its table
        // when the statement runs (`lookup::filter` routes by it; inserts map through it).
        Some(Configured::Lookup { unique: true, from, .. }) if cols.len() == 1 && from.len() == 1 => {
            Ok((cols, cv.name.clone()))
        }
        _ => Err(GatewayError::Unsupported(format!("vindex `{}` as the primary vindex of `{table}`", cv.name))),
    }
}

/// Whether vindex `name` of keyspace `ks` is a lookup (its keyspace ids are read when a
/// statement runs, not computed when it is planned).
pub(super) fn is_lookup(view: &RoutingView, ks: &str, name: &str) -> bool {
    matches!(view.vindexes.get(ks).and_then(|v| v.get(name)), Some(Configured::Lookup { .. }))
}

/// The primary vindex of a table whose vindex reads one column: (column, vindex name).
pub(super) fn primary_vindex(view: &RoutingView, ks: &Keyspace, table: &str) -> Result<(String, String), GatewayError> {
    let (cols, vindex) = primary(view, ks, table)?;
    match cols.as_slice() {
        [col] => Ok((col.clone(), vindex)),
        _ => Err(GatewayError::Unsupported(format!("multi-column vindex `{vindex}` on `{table}` here"))),
    }
}

fn select_where(q: &sqlparser::ast::Query) -> Option<&Expr> {
    match q.body.as_ref() {
        SetExpr::Select(s) => s.selection.as_ref(),
        _ => None,
    }
}

/// Shards a WHERE clause reaches: those of `col = v` / `col IN (...)` on the primary vindex
/// column, else every serving shard.
fn shards_for_where(
    view: &RoutingView,
    ks: &Keyspace,
    table: &str,
    selection: Option<&Expr>,
    tablet_type: TabletType,
) -> Result<Vec<String>, GatewayError> {
    let (cols, vindex) = primary(view, ks, table)?;
    let all = view.serving_shards(ks, tablet_type);
    let Some(sel) = selection.filter(|_| !is_lookup(view, &ks.name, &vindex)) else { return Ok(all) };
    // The values of the longest prefix of the vindex columns the WHERE pins.
    let mut lists = Vec::new();
    for c in &cols {
        match vindex_values(sel, c) {
            Some(v) => lists.push(v),
            None => break,
        }
    }
    let Some(combos) = combinations(&lists, 256) else { return Ok(all) };
    let mut shards = BTreeSet::new();
    for combo in combos {
        let d = view.destination(&ks.name, &vindex, &combo)?;
        shards.extend(view.dest_shards(ks, &d, tablet_type));
    }
    // Keep key-range order.
    Ok(all.into_iter().filter(|s| shards.contains(s)).collect())
}
