//! UPDATE and DELETE that no shard can run as written, as Vitess's "DML with input": a SELECT
//! (planned like any query, across shards, keyspaces and joins) finds the primary keys of the
//! rows to change, then single-table statements change exactly those rows, routed by their
//! vindex values, in one transaction. This serves
//! - `UPDATE`/`DELETE ... ORDER BY ... LIMIT n` across shards: the first n rows in that order
//!   over the whole table, as MariaDB picks them;
//! - multi-table `DELETE t1, t2 FROM ... JOIN ...` and `UPDATE t1 JOIN t2 ... SET ...`, whatever
//!   shards or keyspaces the tables live in;
//! - WHERE clauses with correlated subqueries;
//! - a change of a table's primary vindex column or of an owned lookup column: each row is
//!   deleted and inserted again with its new values (MariaDB computes them in the SELECT), so
//!   it moves to the shard its new value names and its lookup rows follow.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, AssignmentTarget, Expr, FromTable, Ident, ObjectName, OrderByExpr,
    Statement, TableFactor, TableWithJoins,
};

use super::lookup;
use super::route::{no_shards, primary};
use super::values::cell_or_null;
use crate::plan::{DmlInput, DmlInputPlan, DmlStep, GatewayError, KeyProbe, Plan, Target};
use crate::protocol::tablet::QueryResult;
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::sql::quote_ident;

/// Rows per statement the action writes.
const BATCH: usize = 500;

/// A table the statement changes.
#[derive(Debug, Clone)]
pub(super) struct Changed {
    pub(super) keyspace: String,
    pub(super) table: String,
    /// How the statement names it: its alias, else its name.
    pub(super) name: String,
    /// Its primary vindex columns (several for `multicol`/`region_*`); none in an unsharded
    /// keyspace.
    pub(super) vindex: Vec<String>,
}

impl Changed {
    /// `ks`.`table`, for the statements the action writes.
    pub(super) fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.keyspace), quote_ident(&self.table))
    }
}

/// A column a multi-table or cross-shard UPDATE sets.
#[derive(Debug, Clone)]
struct Set {
    /// Index into the changed tables.
    target: usize,
    column: String,
    /// The expression, kept as SQL for the single-table statement when it reads only its own
    /// table's columns; `None`: computed by the input SELECT (the next computed column).
    kept: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Delete,
    Update(Vec<Set>),
    /// A row's vindex (or owned lookup) column changes: delete it, insert it with the values of
    /// `(column, expression)` computed by the input SELECT.
    Move(Vec<(String, String)>),
}

#[derive(Debug)]
struct Action {
    kind: Kind,
    targets: Vec<Changed>,
    /// The FROM of the input SELECT, as the statement wrote it.
    source: String,
    /// `where ...`, `order by ...`, `limit ...`, each with a leading space, or empty.
    clauses: String,
    /// Expressions the input SELECT computes (for [`Kind::Update`] sets that are not kept).
    computed: Vec<String>,
    statement: String,
}

/// Plans an UPDATE or DELETE as a DML with input.
pub(super) fn plan(stmt: &Statement, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let (action, keys) = match stmt {
        Statement::Delete(d) => {
            if d.returning.is_some() {
                return Err(GatewayError::Unsupported("DELETE ... RETURNING across shards".into()));
            }
            let from = match &d.from {
                FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
            };
            // `DELETE FROM t1 USING t1 JOIN t2`: targets from FROM, rows from USING.
            // `DELETE t1 FROM t1 JOIN t2`: targets listed, rows from FROM.
            let (names, source): (Vec<ObjectName>, &[TableWithJoins]) = match &d.using {
                Some(using) => (from.iter().filter_map(|t| table_name(&t.relation)).collect(), using),
                None if !d.tables.is_empty() => (d.tables.clone(), from),
                None => (from.iter().filter_map(|t| table_name(&t.relation)).collect(), from),
            };
            let sources = source_tables(source);
            let mut targets = Vec::new();
            for n in &names {
                targets.push(changed(view, target, &sources, n)?);
            }
            build(Kind::Delete, targets, source, d.selection.as_ref(), &d.order_by, d.limit.as_ref(), stmt, view)?
        }
        Statement::Update(u) => {
            if u.returning.is_some() || u.from.is_some() {
                return Err(GatewayError::Unsupported("UPDATE ... FROM or RETURNING across shards".into()));
            }
            let source = std::slice::from_ref(&u.table);
            let sources = source_tables(source);
            let single = sources.len() == 1;
            let mut targets: Vec<Changed> = Vec::new();
            let mut sets = Vec::new();
            let mut computed = Vec::new();
            for a in &u.assignments {
                let AssignmentTarget::ColumnName(col) = &a.target else {
                    return Err(GatewayError::Unsupported("tuple assignments in UPDATE across shards".into()));
                };
                let parts = idents(col);
                let (qualifier, column) = match parts.as_slice() {
                    [c] if single => (sources[0].1.clone(), c.clone()),
                    [c] => {
                        return Err(GatewayError::Unsupported(format!(
                            "unqualified column `{c}` in a multi-table UPDATE across shards; write `table.{c}`"
                        )))
                    }
                    [.., q, c] => (q.clone(), c.clone()),
                    [] => return Err(GatewayError::Syntax("an empty column name".into())),
                };
                let i = match targets.iter().position(|t| t.name.eq_ignore_ascii_case(&qualifier)) {
                    Some(i) => i,
                    None => {
                        if !sources.iter().any(|(_, refer)| refer.eq_ignore_ascii_case(&qualifier)) {
                            return Err(GatewayError::Syntax(format!("unknown table `{qualifier}` in SET")));
                        }
                        let name = ObjectName::from(vec![Ident::new(qualifier.clone())]);
                        targets.push(changed(view, target, &sources, &name)?);
                        targets.len() - 1
                    }
                };
                let kept = own_columns(&a.value, &targets[i].name, single).then(|| strip_qualifiers(&a.value));
                if kept.is_none() {
                    computed.push(a.value.to_string());
                }
                sets.push(Set { target: i, column, kept });
            }
            let moving = moves(view, &targets, &sets)?;
            let kind = if moving {
                if targets.len() != 1 || !single {
                    return Err(GatewayError::Unsupported(
                        "changing a vindex column in a multi-table UPDATE; update that table alone".into(),
                    ));
                }
                Kind::Move(
                    u.assignments.iter().zip(&sets).map(|(a, s)| (s.column.clone(), a.value.to_string())).collect(),
                )
            } else {
                Kind::Update(sets)
            };
            let (mut action, keys) =
                build(kind, targets, source, u.selection.as_ref(), &u.order_by, u.limit.as_ref(), stmt, view)?;
            if matches!(action.kind, Kind::Update(_)) {
                action.computed = computed;
            }
            (action, keys)
        }
        _ => return Err(GatewayError::Unsupported("DML with input for this statement".into())),
    };
    Ok(Plan::DmlInput(Box::new(DmlInputPlan { keys, action: Arc::new(action) })))
}

#[allow(clippy::too_many_arguments)]
fn build(
    kind: Kind,
    targets: Vec<Changed>,
    source: &[TableWithJoins],
    selection: Option<&Expr>,
    order_by: &[OrderByExpr],
    limit: Option<&Expr>,
    stmt: &Statement,
    view: &RoutingView,
) -> Result<(Action, Vec<KeyProbe>), GatewayError> {
    if targets.is_empty() {
        return Err(GatewayError::Syntax("no table to change".into()));
    }
    if source_tables(source).len() > 1 && (limit.is_some() || !order_by.is_empty()) {
        // MariaDB's own answer: 1221 Incorrect usage of UPDATE/DELETE and ORDER BY/LIMIT.
        return Err(GatewayError::Syntax("Incorrect usage of multi-table UPDATE/DELETE and ORDER BY or LIMIT".into()));
    }
    let mut clauses = String::new();
    if let Some(w) = selection {
        clauses.push_str(&format!(" where {w}"));
    }
    if !order_by.is_empty() {
        let ob: Vec<String> = order_by.iter().map(ToString::to_string).collect();
        clauses.push_str(&format!(" order by {}", ob.join(", ")));
    }
    if let Some(l) = limit {
        clauses.push_str(&format!(" limit {l}"));
    }
    let mut keys = Vec::new();
    for t in &targets {
        let ks = view.keyspace(&t.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(t.keyspace.clone()))?;
        let shard =
            view.serving_shards(ks, TabletType::Primary).into_iter().next().ok_or_else(|| no_shards(&t.keyspace))?;
        keys.push(KeyProbe { keyspace: t.keyspace.clone(), shard, table: t.table.clone() });
    }
    let source = source.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let action = Action { kind, targets, source, clauses, computed: Vec::new(), statement: stmt.to_string() };
    Ok((action, keys))
}

/// Whether the sets change a primary vindex column or an owned lookup column.
fn moves(view: &RoutingView, targets: &[Changed], sets: &[Set]) -> Result<bool, GatewayError> {
    for s in sets {
        let t = &targets[s.target];
        if t.vindex.iter().any(|v| v.eq_ignore_ascii_case(&s.column)) {
            return Ok(true);
        }
        if let Some(ks) = view.keyspace(&t.keyspace) {
            if lookup::owned(view, ks, &t.table)?
                .iter()
                .flat_map(|(cs, _)| cs)
                .any(|c| c.eq_ignore_ascii_case(&s.column))
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The tables of a FROM: (name, how the statement refers to it).
fn source_tables(source: &[TableWithJoins]) -> Vec<(ObjectName, String)> {
    let mut out = Vec::new();
    let mut add = |f: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = f {
            let refer = match alias {
                Some(a) => a.name.value.clone(),
                None => idents(name).last().cloned().unwrap_or_default(),
            };
            out.push((name.clone(), refer));
        }
    };
    for t in source {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
    out
}

fn table_name(f: &TableFactor) -> Option<ObjectName> {
    match f {
        TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    }
}

fn idents(name: &ObjectName) -> Vec<String> {
    name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string())).collect()
}

/// The changed table `name` names: an alias or a table of the FROM.
fn changed(
    view: &RoutingView,
    target: &Target,
    sources: &[(ObjectName, String)],
    name: &ObjectName,
) -> Result<Changed, GatewayError> {
    let parts = idents(name);
    let last = parts.last().cloned().unwrap_or_default();
    // A one-part name may be an alias of a table of the FROM.
    let (table_name, refer) = match sources.iter().find(|(_, r)| parts.len() == 1 && r.eq_ignore_ascii_case(&last)) {
        Some((n, r)) => (n.clone(), r.clone()),
        None => (name.clone(), last.clone()),
    };
    let tparts = idents(&table_name);
    let (qualifier, table) = match tparts.as_slice() {
        [t] => (None, t.clone()),
        [ks, t] => (Some(ks.as_str()), t.clone()),
        _ => return Err(GatewayError::Syntax(format!("`{table_name}` has too many qualifiers"))),
    };
    let keyspace =
        view.table_keyspace(qualifier, target.keyspace.as_deref(), &table, TabletType::Primary).map_err(|many| {
            match many.as_slice() {
                [] => GatewayError::NoDatabase,
                _ => GatewayError::Routing {
                    keyspace: many.join(","),
                    message: format!("table `{table}` is in several keyspaces; qualify it or `use` one"),
                },
            }
        })?;
    let ks = view.keyspace(&keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(keyspace.clone()))?;
    let vindex = match ks.vschema.as_ref().is_some_and(|v| v.sharded) {
        true => primary(view, ks, &table)?.0,
        false => Vec::new(),
    };
    Ok(Changed { keyspace, table, name: refer, vindex })
}

/// Whether `e` reads only columns of the table named `name` (and no subquery), so the
/// single-table statement can evaluate it itself.
fn own_columns(e: &Expr, name: &str, single: bool) -> bool {
    let mut own = true;
    let _ = visit_expressions(e, |x: &Expr| {
        own &= match x {
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => false,
            Expr::Identifier(_) => single,
            Expr::CompoundIdentifier(parts) => {
                parts.len() >= 2 && parts[parts.len() - 2].value.eq_ignore_ascii_case(name)
            }
            _ => true,
        };
        if own {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    own
}

/// `e` with `t.col` written `col`.
fn strip_qualifiers(e: &Expr) -> String {
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x: &mut Expr| {
        if let Expr::CompoundIdentifier(parts) = x {
            if let Some(last) = parts.last().cloned() {
                *x = Expr::Identifier(Ident { value: last.value, quote_style: Some('`'), span: last.span });
            }
        }
        ControlFlow::<()>::Continue(())
    });
    e.to_string()
}

/// A changed table's row identity in the input's columns: its key, then the vindex columns
/// the key lacks (a key is unique on one shard only, not across them).
pub(super) struct RowIdentity {
    pub(super) cols: Vec<String>,
    /// Where the vindex column is among them, when the vindex reads one column (it routes the
    /// statement).
    hint: Option<usize>,
}

impl RowIdentity {
    fn width(&self) -> usize {
        self.cols.len()
    }
}

pub(super) fn layout(t: &Changed, key: &[String]) -> RowIdentity {
    let mut cols = key.to_vec();
    for v in &t.vindex {
        if !cols.iter().any(|c| c.eq_ignore_ascii_case(v)) {
            cols.push(v.clone());
        }
    }
    let hint = match t.vindex.as_slice() {
        [v] => cols.iter().position(|c| c.eq_ignore_ascii_case(v)),
        _ => None,
    };
    RowIdentity { cols, hint }
}

/// `vcol in (...) and (k1, .., vcol) in ((...), ...)`: exactly the rows given (as literals of
/// their identity columns), routed by their vindex values.
pub(super) fn where_rows(id: &RowIdentity, rows: &[Vec<String>]) -> String {
    let cols: Vec<String> = id.cols.iter().map(|k| quote_ident(k)).collect();
    let exact = if cols.len() == 1 {
        format!("{} in ({})", cols[0], rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>().join(", "))
    } else {
        let tuples: Vec<String> = rows.iter().map(|r| format!("({})", r.join(", "))).collect();
        format!("({}) in ({})", cols.join(", "), tuples.join(", "))
    };
    match id.hint {
        Some(p) if cols.len() > 1 => {
            let mut values: Vec<&str> = rows.iter().map(|r| r[p].as_str()).collect();
            values.sort_unstable();
            values.dedup();
            format!("{} in ({}) and {exact}", cols[p], values.join(", "))
        }
        _ => exact,
    }
}

impl Action {
    fn identity_columns(&self, keys: &[Vec<String>]) -> Vec<String> {
        let mut cols = Vec::new();
        for (t, key) in self.targets.iter().zip(keys) {
            for c in layout(t, key).cols {
                cols.push(format!("{}.{}", quote_ident(&t.name), quote_ident(&c)));
            }
        }
        cols
    }

    fn move_steps(
        &self,
        assigns: &[(String, String)],
        key: &[String],
        rows: &QueryResult,
    ) -> Result<Vec<DmlStep>, GatewayError> {
        let t = &self.targets[0];
        let n =
            rows.fields.len().checked_sub(assigns.len()).ok_or_else(|| GatewayError::Other("short input".into()))?;
        let names: Vec<&str> = rows.fields[..n].iter().map(|f| f.name.as_str()).collect();
        let position = |c: &str| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(c))
                .ok_or_else(|| GatewayError::Other(format!("Unknown column '{c}' in '{}'", t.table)))
        };
        let id = layout(t, key);
        let id_pos: Vec<usize> = id.cols.iter().map(|k| position(k)).collect::<Result<_, _>>()?;
        let set_pos: Vec<usize> = assigns.iter().map(|(c, _)| position(c)).collect::<Result<_, _>>()?;
        let (mut doomed, mut born) = (Vec::new(), Vec::new());
        let mut seen = HashSet::new();
        for row in &rows.rows {
            let old: Vec<String> =
                rows.fields[..n].iter().zip(row).map(|(f, c)| cell_or_null(f, c.as_deref())).collect();
            let mut new = old.clone();
            for (j, p) in set_pos.iter().enumerate() {
                new[*p] = cell_or_null(&rows.fields[n + j], row.get(n + j).and_then(|c| c.as_deref()));
            }
            let ident: Vec<String> = id_pos.iter().map(|p| old[*p].clone()).collect();
            if new == old || !seen.insert(ident.clone()) {
                continue;
            }
            doomed.push(ident);
            born.push(format!("({})", new.join(", ")));
        }
        let mut steps = Vec::new();
        for chunk in doomed.chunks(BATCH) {
            let sql = format!("delete from {} where {}", t.qualified(), where_rows(&id, chunk));
            steps.push(DmlStep { sql, counted: true });
        }
        let cols: Vec<String> = names.iter().map(|c| quote_ident(c)).collect();
        for chunk in born.chunks(BATCH) {
            let sql = format!("insert into {} ({}) values {}", t.qualified(), cols.join(", "), chunk.join(", "));
            steps.push(DmlStep { sql, counted: false });
        }
        Ok(steps)
    }
}

impl DmlInput for Action {
    fn input(&self, keys: &[Vec<String>]) -> Result<String, GatewayError> {
        if let Some((i, _)) = keys.iter().enumerate().find(|(_, k)| k.is_empty()) {
            let t = &self.targets[i];
            return Err(GatewayError::Other(format!(
                "table `{}.{}` has no primary key; an UPDATE or DELETE across shards finds its rows by it (add one)",
                t.keyspace, t.table
            )));
        }
        let cols = match &self.kind {
            Kind::Move(assigns) => {
                let mut cols = vec![format!("{}.*", quote_ident(&self.targets[0].name))];
                cols.extend(assigns.iter().map(|(_, e)| e.clone()));
                cols
            }
            _ => {
                let mut cols = self.identity_columns(keys);
                cols.extend(self.computed.iter().cloned());
                cols
            }
        };
        Ok(format!("select {} from {}{} for update", cols.join(", "), self.source, self.clauses))
    }

    fn steps(&self, keys: &[Vec<String>], rows: &QueryResult) -> Result<Vec<DmlStep>, GatewayError> {
        // The input's rows are read by position: they must have the columns it asked for.
        let width = match &self.kind {
            Kind::Move(assigns) => rows.fields.len().max(assigns.len() + 1),
            _ => self.identity_columns(keys).len() + self.computed.len(),
        };
        if rows.fields.len() != width || rows.rows.iter().any(|r| r.len() != width) || keys.len() != self.targets.len()
        {
            return Err(GatewayError::Other(format!(
                "the rows found for `{}` do not have the {width} columns asked for",
                self.statement
            )));
        }
        if let Kind::Move(assigns) = &self.kind {
            return self.move_steps(assigns, &keys[0], rows);
        }
        let sets: &[Set] = match &self.kind {
            Kind::Update(sets) => sets,
            _ => &[],
        };
        let computed_at = self.identity_columns(keys).len();
        let mut steps = Vec::new();
        let mut offset = 0;
        for (ti, (t, key)) in self.targets.iter().zip(keys).enumerate() {
            let id = layout(t, key);
            // Rows grouped by the values the input computed for this table's sets.
            let mut groups: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
            let mut seen = HashSet::new();
            for row in &rows.rows {
                let cells = &row[offset..offset + id.width()];
                if cells.iter().any(Option::is_none) {
                    continue; // an outer join without a row of this table
                }
                let ident: Vec<String> = rows.fields[offset..offset + id.width()]
                    .iter()
                    .zip(cells)
                    .map(|(f, c)| cell_or_null(f, c.as_deref()))
                    .collect();
                if !seen.insert(ident.clone()) {
                    continue; // MariaDB changes a row once, however many rows it joins
                }
                let mut values = Vec::new();
                let mut c = computed_at;
                for s in sets {
                    if s.kept.is_none() {
                        if s.target == ti {
                            values.push(cell_or_null(&rows.fields[c], row.get(c).and_then(|x| x.as_deref())));
                        }
                        c += 1;
                    }
                }
                groups.entry(values).or_default().push(ident);
            }
            offset += id.width();
            let mine: Vec<&Set> = sets.iter().filter(|s| s.target == ti).collect();
            if matches!(self.kind, Kind::Update(_)) && mine.is_empty() {
                continue;
            }
            for (values, members) in groups {
                for chunk in members.chunks(BATCH) {
                    let sql = match &self.kind {
                        Kind::Delete => {
                            format!("delete from {} where {}", t.qualified(), where_rows(&id, chunk))
                        }
                        _ => {
                            let mut computed = values.iter();
                            let assigns: Vec<String> = mine
                                .iter()
                                .map(|s| {
                                    let v = match &s.kept {
                                        Some(k) => k.clone(),
                                        None => computed.next().cloned().unwrap_or_else(|| "NULL".into()),
                                    };
                                    format!("{} = {v}", quote_ident(&s.column))
                                })
                                .collect();
                            format!(
                                "update {} set {} where {}",
                                t.qualified(),
                                assigns.join(", "),
                                where_rows(&id, chunk)
                            )
                        }
                    };
                    steps.push(DmlStep { sql, counted: true });
                }
            }
        }
        Ok(steps)
    }

    fn describe(&self) -> String {
        let what = match &self.kind {
            Kind::Delete => "delete the rows it returns by primary key",
            Kind::Update(_) => "update the rows it returns by primary key",
            Kind::Move(_) => "delete the rows it returns and insert them with their new values",
        };
        format!(
            "`{}`: select from {}{}, then {what} ({} table(s))",
            self.statement,
            self.source,
            self.clauses,
            self.targets.len()
        )
    }
}
