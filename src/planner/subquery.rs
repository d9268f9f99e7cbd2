//! Subqueries: uncorrelated ones are pulled out (run first, their values substituted as
//! literals); correlated ones stay in the statement only when every row they need is on the
//! outer row's shard (joined on the vindex column), else they are refused by name.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, visit_relations, Expr, ObjectName, Query, SelectItem, SetExpr,
    TableFactor, Value as SqlValue, VisitMut,
};

use super::tables::{self, conjuncts, qualifiers, Tab};
use crate::plan::value::Kind;
use crate::plan::GatewayError;
use crate::plan::Target;
use crate::protocol::tablet::{QueryResult, TabletError};
use crate::routing::RoutingView;

/// Table names and aliases a query defines (at any depth).
fn defined(q: &Query) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = visit_relations(q, |n: &ObjectName| {
        if let Some(last) = n.0.last() {
            out.insert(last.to_string().trim_matches('`').to_ascii_lowercase());
        }
        ControlFlow::<()>::Continue(())
    });
    fn aliases(s: &SetExpr, out: &mut BTreeSet<String>) {
        match s {
            SetExpr::Select(sel) => {
                for t in &sel.from {
                    let mut factors = vec![&t.relation];
                    factors.extend(t.joins.iter().map(|j| &j.relation));
                    for f in factors {
                        match f {
                            TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
                                out.insert(a.name.value.to_ascii_lowercase());
                            }
                            _ => {}
                        }
                        if let TableFactor::Derived { subquery, .. } = f {
                            aliases(&subquery.body, out);
                        }
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                aliases(left, out);
                aliases(right, out);
            }
            SetExpr::Query(q) => aliases(&q.body, out),
            _ => {}
        }
    }
    aliases(&q.body, &mut out);
    // Nested subqueries define their own.
    let _ = visit_expressions(q, |e: &Expr| {
        if let Expr::Subquery(sq) | Expr::Exists { subquery: sq, .. } | Expr::InSubquery { subquery: sq, .. } = e {
            aliases(&sq.body, &mut out);
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Outer qualifiers a subquery uses.
pub fn correlation(sq: &Query) -> BTreeSet<String> {
    let inner = defined(sq);
    let mut used = BTreeSet::new();
    let _ = visit_expressions(sq, |e: &Expr| {
        used.extend(qualifiers(e));
        ControlFlow::<()>::Continue(())
    });
    used.into_iter().filter(|q| !inner.contains(q)).collect()
}

/// Top-level expressions of a query's SELECTs (not inside FROM or other subqueries).
fn top_exprs(s: &SetExpr, out: &mut Vec<Expr>) {
    match s {
        SetExpr::Select(sel) => {
            for i in &sel.projection {
                if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = i {
                    out.push(e.clone());
                }
            }
            out.extend(sel.selection.iter().cloned());
            out.extend(sel.having.iter().cloned());
            for t in &sel.from {
                for j in &t.joins {
                    if let Some(on) = join_on(&j.join_operator) {
                        out.push(on.clone());
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            top_exprs(left, out);
            top_exprs(right, out);
        }
        SetExpr::Query(q) => top_exprs(&q.body, out),
        _ => {}
    }
}

pub(crate) fn join_on(op: &sqlparser::ast::JoinOperator) -> Option<&Expr> {
    use sqlparser::ast::{JoinConstraint, JoinOperator as J};
    match op {
        J::Join(JoinConstraint::On(e))
        | J::Inner(JoinConstraint::On(e))
        | J::Left(JoinConstraint::On(e))
        | J::LeftOuter(JoinConstraint::On(e))
        | J::Right(JoinConstraint::On(e))
        | J::RightOuter(JoinConstraint::On(e)) => Some(e),
        _ => None,
    }
}

/// Plain tables of a SELECT's FROM (those that resolve).
fn from_tabs(s: &SetExpr, target: &Target, view: &RoutingView) -> Vec<Tab> {
    let SetExpr::Select(sel) = s else { return Vec::new() };
    let mut out = Vec::new();
    for t in &sel.from {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, alias, .. } = f {
                if let Ok(tab) = tables::resolve(name, alias.as_ref(), target, view) {
                    out.push(tab);
                }
            }
        }
    }
    out
}

/// Subqueries (by their text) to run first. Correlated ones must equate an inner table's
/// vindex column with an outer table's (same vindex) to stay; else an error names them.
pub fn pullouts(q: &Query, target: &Target, view: &RoutingView) -> Result<Vec<String>, GatewayError> {
    let outer_tabs = from_tabs(&q.body, target, view);
    let mut exprs = Vec::new();
    top_exprs(&q.body, &mut exprs);
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for e in &exprs {
        let mut err = None;
        let _ = visit_expressions(e, |x: &Expr| {
            let sq = match x {
                Expr::Subquery(sq) | Expr::Exists { subquery: sq, .. } | Expr::InSubquery { subquery: sq, .. } => sq,
                _ => return ControlFlow::Continue(()),
            };
            let t = sq.to_string();
            // Subqueries inside another are planned with it.
            if seen.iter().any(|s| s.contains(&t)) {
                return ControlFlow::Continue(());
            }
            seen.push(t.clone());
            let outer = correlation(sq);
            if outer.is_empty() {
                if !out.contains(&t) {
                    out.push(t);
                }
            } else if !equates_vindexes(sq, &outer_tabs, &from_tabs(&sq.body, target, view)) {
                err = Some(GatewayError::Unsupported(format!(
                    "correlated subquery `{sq}` across shards; correlate it on the sharding column (inner.col = outer.col) so each shard can answer it"
                )));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(out)
}

/// Rewrites correlated `[NOT] EXISTS (select .. from T where T.a = outer.b and P)` whose rows
/// are not all on the outer row's shard into `[NOT] COALESCE(outer.b IN (select T.a from T
/// where P), 0)` — the same truth value, NULLs included — which is pulled out like any
/// uncorrelated subquery.
///
/// Correlated scalar subqueries `(select AGG(..) from T where T.a = outer.b and P)` become a
/// [`Keyed`] subquery `select T.a, AGG(..) from T where P group by T.a`, run first; its rows
/// become `CASE outer.b WHEN a1 THEN v1 ... ELSE <AGG of no rows> END`.
pub fn decorrelate(q: &Query, target: &Target, view: &RoutingView) -> (Query, Vec<Keyed>) {
    let outer_tabs = from_tabs(&q.body, target, view);
    let mut q = q.clone();
    let mut keyed = Vec::new();
    let _ = visit_expressions_mut(&mut q, |x: &mut Expr| {
        let sq = match x {
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => subquery.clone(),
            _ => return ControlFlow::<()>::Continue(()),
        };
        let outer = correlation(&sq);
        if outer.is_empty() || equates_vindexes(&sq, &outer_tabs, &from_tabs(&sq.body, target, view)) {
            return ControlFlow::Continue(());
        }
        match x {
            Expr::Exists { negated, .. } => {
                if let Some(e) = exists_as_in(&sq, &outer, *negated) {
                    *x = e;
                }
            }
            _ => {
                if let Some(k) = scalar_as_keyed(&sq, &outer) {
                    if let Ok(e) = super::scatter::parse_expr(&format!("{KEYED}{}()", keyed.len())) {
                        *x = e;
                        keyed.push(k);
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    (q, keyed)
}

/// Name prefix of the placeholders a keyed subquery's CASE replaces.
pub const KEYED: &str = "__tessera_keyed_";

/// A correlated scalar subquery run once, grouped by its correlation column.
#[derive(Debug, Clone)]
pub struct Keyed {
    /// `select inner_col, AGG(..) from .. group by inner_col`.
    pub sql: String,
    /// The outer expression it was correlated with.
    pub outer: Expr,
    /// The aggregate's value over no rows (`0` for COUNT, else NULL).
    pub empty: Expr,
}

/// The correlation `inner = outer` of a subquery, and its other (uncorrelated) conjuncts.
fn split_link(sel: &sqlparser::ast::Select, outer: &BTreeSet<String>) -> Option<((Expr, Expr), Vec<Expr>)> {
    let conj = conjuncts(sel.selection.as_ref()?);
    let refs_outer = |e: &Expr| qualifiers(e).iter().any(|q| outer.contains(q));
    let mut link = None;
    let mut rest = Vec::new();
    for c in conj {
        if let Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } = &c {
            let (lo, ro) = (refs_outer(left), refs_outer(right));
            if link.is_none() && lo != ro && !qualifiers(if lo { right } else { left }).is_empty() {
                link = Some(if lo {
                    (right.as_ref().clone(), left.as_ref().clone())
                } else {
                    (left.as_ref().clone(), right.as_ref().clone())
                });
                continue;
            }
        }
        if refs_outer(&c) {
            return None;
        }
        rest.push(c);
    }
    Some((link?, rest))
}

fn scalar_as_keyed(sq: &Query, outer: &BTreeSet<String>) -> Option<Keyed> {
    let SetExpr::Select(sel) = sq.body.as_ref() else { return None };
    if sel.having.is_some() || sq.limit_clause.is_some() || sel.distinct.is_some() || sq.order_by.is_some() {
        return None;
    }
    if !matches!(&sel.group_by, sqlparser::ast::GroupByExpr::Expressions(v, _) if v.is_empty()) {
        return None;
    }
    let [SelectItem::UnnamedExpr(Expr::Function(f)) | SelectItem::ExprWithAlias { expr: Expr::Function(f), .. }] =
        sel.projection.as_slice()
    else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if !["count", "sum", "avg", "min", "max"].contains(&name.as_str()) {
        return None;
    }
    let ((inner_col, outer_col), rest) = split_link(sel, outer)?;
    let mut inner = sq.clone();
    let SetExpr::Select(isel) = inner.body.as_mut() else { return None };
    isel.projection =
        vec![SelectItem::UnnamedExpr(inner_col.clone()), SelectItem::UnnamedExpr(Expr::Function(f.clone()))];
    isel.selection = tables::and_all(&rest);
    isel.group_by = sqlparser::ast::GroupByExpr::Expressions(vec![inner_col], Vec::new());
    let empty = if name == "count" { SqlValue::Number("0".into(), false) } else { SqlValue::Null };
    Some(Keyed { sql: inner.to_string(), outer: outer_col, empty: Expr::Value(empty.into()) })
}

/// `CASE outer WHEN key THEN value ... ELSE empty END` from a keyed subquery's rows.
pub fn keyed_case(k: &Keyed, r: &QueryResult) -> Result<Expr, GatewayError> {
    let [kf, vf] = r.fields.as_slice() else {
        return Err(GatewayError::Other(format!("keyed subquery `{}` returned {} columns", k.sql, r.fields.len())));
    };
    let (kk, vk) = (Kind::of(kf), Kind::of(vf));
    let mut whens = Vec::new();
    for row in &r.rows {
        let key = row.first().cloned().flatten();
        if key.is_none() {
            continue;
        }
        whens.push(sqlparser::ast::CaseWhen {
            condition: literal(&key, kk),
            result: literal(&row.get(1).cloned().flatten(), vk),
        });
    }
    if whens.is_empty() {
        return Ok(k.empty.clone());
    }
    Ok(Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: Some(Box::new(k.outer.clone())),
        conditions: whens,
        else_result: Some(Box::new(k.empty.clone())),
    })
}

fn exists_as_in(sq: &Query, outer: &BTreeSet<String>, negated: bool) -> Option<Expr> {
    let SetExpr::Select(sel) = sq.body.as_ref() else { return None };
    if sel.having.is_some() || sq.limit_clause.is_some() || sel.distinct.is_some() {
        return None;
    }
    if !matches!(&sel.group_by, sqlparser::ast::GroupByExpr::Expressions(v, _) if v.is_empty()) {
        return None;
    }
    let ((inner_col, outer_col), rest) = split_link(sel, outer)?;
    let mut inner = sq.clone();
    let SetExpr::Select(isel) = inner.body.as_mut() else { return None };
    isel.projection = vec![SelectItem::UnnamedExpr(inner_col)];
    isel.selection = tables::and_all(&rest);
    let text = format!("{}coalesce({outer_col} in ({inner}), 0)", if negated { "not " } else { "" });
    super::scatter::parse_expr(&text).ok()
}

/// Whether a correlated subquery's WHERE equates an inner table's vindex column with an outer
/// table's (so every row it needs is on the outer row's shard).
fn equates_vindexes(sq: &Query, outer: &[Tab], inner: &[Tab]) -> bool {
    let SetExpr::Select(sel) = sq.body.as_ref() else { return false };
    let Some(w) = &sel.selection else { return false };
    let vcol = |e: &Expr, tabs: &[Tab]| -> Option<String> {
        tabs.iter()
            .find(|t| t.sharded && tables::is_vindex_col(e, t, false))
            .and_then(|t| t.vindex.as_ref().map(|v| v.1.clone()))
    };
    conjuncts(w).iter().any(|c| {
        let Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } = c else { return false };
        let pair = |a: &Expr, b: &Expr| match (vcol(a, inner), vcol(b, outer)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        pair(left, right) || pair(right, left)
    })
}

fn literal(cell: &Option<Vec<u8>>, kind: Kind) -> Expr {
    let v = match cell {
        None => SqlValue::Null,
        Some(b) => match kind {
            Kind::Int | Kind::Decimal | Kind::Float => SqlValue::Number(String::from_utf8_lossy(b).into_owned(), false),
            _ => match std::str::from_utf8(b) {
                Ok(s) => SqlValue::SingleQuotedString(crate::sql::literal::escape_body(s)),
                Err(_) => SqlValue::HexStringLiteral(hex::encode_upper(b)),
            },
        },
    };
    Expr::Value(v.into())
}

/// The statement with each pulled-out subquery replaced by its values.
pub fn substitute<T: VisitMut + Clone>(
    q: &T,
    results: &HashMap<String, QueryResult>,
    keyed: &[Expr],
) -> Result<T, GatewayError> {
    let mut q = q.clone();
    let mut err = None;
    let one_column = |r: &QueryResult| -> Result<Kind, GatewayError> {
        match r.fields.as_slice() {
            [f] => Ok(Kind::of(f)),
            _ => Err(GatewayError::Tablet(TabletError::Mysql {
                code: 1241,
                state: "21000".into(),
                message: "Operand should contain 1 column(s)".into(),
            })),
        }
    };
    let _ = visit_expressions_mut(&mut q, |x: &mut Expr| {
        let replaced = match x {
            Expr::Function(f) if f.name.to_string().starts_with(KEYED) => {
                let n: Option<usize> = f.name.to_string()[KEYED.len()..].parse().ok();
                match n.and_then(|n| keyed.get(n)) {
                    Some(e) => Expr::Nested(Box::new(e.clone())),
                    None => return ControlFlow::Continue(()),
                }
            }
            Expr::InSubquery { expr, subquery, negated } => match results.get(&subquery.to_string()) {
                None => return ControlFlow::Continue(()),
                Some(r) => match one_column(r) {
                    Err(e) => {
                        err = Some(e);
                        return ControlFlow::Break(());
                    }
                    Ok(_) if r.rows.is_empty() => {
                        Expr::Value(SqlValue::Number(if *negated { "1" } else { "0" }.into(), false).into())
                    }
                    Ok(kind) => {
                        let mut seen = BTreeSet::new();
                        let list = r
                            .rows
                            .iter()
                            .map(|row| row.first().cloned().flatten())
                            .filter(|c| seen.insert(c.clone()))
                            .map(|c| literal(&c, kind))
                            .collect();
                        Expr::InList { expr: expr.clone(), list, negated: *negated }
                    }
                },
            },
            Expr::Exists { subquery, negated } => match results.get(&subquery.to_string()) {
                None => return ControlFlow::Continue(()),
                Some(r) => {
                    let exists = r.rows.is_empty() == *negated;
                    Expr::Value(SqlValue::Number(if exists { "1" } else { "0" }.into(), false).into())
                }
            },
            Expr::Subquery(subquery) => match results.get(&subquery.to_string()) {
                None => return ControlFlow::Continue(()),
                Some(r) => match (one_column(r), r.rows.len()) {
                    (Err(e), _) => {
                        err = Some(e);
                        return ControlFlow::Break(());
                    }
                    (_, n) if n > 1 => {
                        err = Some(GatewayError::Tablet(TabletError::Mysql {
                            code: 1242,
                            state: "21000".into(),
                            message: "Subquery returns more than 1 row".into(),
                        }));
                        return ControlFlow::Break(());
                    }
                    (Ok(kind), 0) => literal(&None, kind),
                    (Ok(kind), _) => {
                        let lit = literal(&r.rows[0].first().cloned().flatten(), kind);
                        Expr::Nested(Box::new(lit))
                    }
                },
            },
            _ => return ControlFlow::Continue(()),
        };
        *x = replaced;
        ControlFlow::Continue(())
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(q)
}
