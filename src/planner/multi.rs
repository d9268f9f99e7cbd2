//! Queries over several routes: joins (merged into one route when the shards can join them,
//! else nested loops in the gateway), derived tables and UNION.

use sqlparser::ast::{
    BinaryOperator, Expr, Join, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, SetOperator,
    SetQuantifier, TableFactor,
};

use super::limits;
use super::scatter::{self, item_name, order_terms};
use super::stages::{self, compile_pre};
use super::tables::{self, conjuncts, is_vindex_col, pinned, strip_keyspaces, Tab};
use crate::plan::expr::Ev;
use crate::plan::pipeline::{JoinKind, OrderKey, Pipeline, Proj, RouteSpec, Source};
use crate::plan::EngineError;
use crate::plan::GatewayError;
use crate::plan::Plan;
use crate::plan::Target;
use crate::routing::RoutingView;

pub(super) fn unsupported(m: impl Into<String>) -> GatewayError {
    GatewayError::Unsupported(m.into())
}

pub fn plan(q: &Query, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    match q.body.as_ref() {
        SetExpr::SetOperation { .. } => union(q, target, view),
        SetExpr::Select(sel) => match super::right_join::as_left_join(q) {
            Some(left) => plan(&left, target, view),
            None => select(q, sel, target, view),
        },
        SetExpr::Query(inner) if q.order_by.is_none() && q.limit_clause.is_none() => {
            crate::planner::route::plan_query_stmt(inner, target, view)
        }
        other => Err(unsupported(format!("`{other}` across shards"))),
    }
}

/// A plan as a pipeline (for UNION parts and derived tables).
pub fn as_pipeline(p: Plan) -> Result<Pipeline, GatewayError> {
    match p {
        Plan::Route { keyspace, shards, sql, tablet_type } => {
            Ok(passthrough(RouteSpec { keyspace, shards, sql, tablet_type, merge: Vec::new(), tail: 0 }))
        }
        Plan::Select(p) => Ok(*p),
        Plan::Lookup(lp) => Ok(passthrough(RouteSpec {
            keyspace: lp.keyspace,
            shards: lp.shards,
            sql: lp.sql,
            tablet_type: lp.tablet_type,
            merge: Vec::new(),
            tail: 0,
        })),
        _ => {
            Err(unsupported("a subquery inside a UNION part or derived table that needs its own subqueries run first"))
        }
    }
}

fn passthrough(r: RouteSpec) -> Pipeline {
    Pipeline::over(Source::Route(r))
}

fn union_part(s: &SetExpr, target: &Target, view: &RoutingView) -> Result<Pipeline, GatewayError> {
    match s {
        SetExpr::SetOperation { .. } => Ok(Pipeline::over(union_source(s, target, view)?)),
        SetExpr::Query(q) => as_pipeline(crate::planner::route::plan_query_stmt(q, target, view)?),
        other => {
            let q = Query {
                with: None,
                body: Box::new(other.clone()),
                order_by: None,
                limit_clause: None,
                fetch: None,
                locks: Vec::new(),
                for_clause: None,
                settings: None,
                format_clause: None,
                pipe_operators: Vec::new(),
            };
            as_pipeline(crate::planner::route::plan_query_stmt(&q, target, view)?)
        }
    }
}

fn union_source(s: &SetExpr, target: &Target, view: &RoutingView) -> Result<Source, GatewayError> {
    let SetExpr::SetOperation { left, op, set_quantifier, right } = s else {
        return Err(unsupported("not a UNION"));
    };
    if *op != SetOperator::Union {
        return Err(unsupported(format!("{op} across shards")));
    }
    let distinct = !matches!(set_quantifier, SetQuantifier::All);
    Ok(Source::Union(vec![union_part(left, target, view)?, union_part(right, target, view)?], distinct))
}

fn first_select(s: &SetExpr) -> Option<&Select> {
    match s {
        SetExpr::Select(sel) => Some(sel),
        SetExpr::SetOperation { left, .. } => first_select(left),
        SetExpr::Query(q) => first_select(&q.body),
        _ => None,
    }
}

fn union(q: &Query, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let first = first_select(&q.body).ok_or_else(|| unsupported("UNION without a SELECT"))?;
    if first.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))) {
        return Err(unsupported("`*` in a UNION across shards; name the columns"));
    }
    let names: Vec<String> = first.projection.iter().map(item_name).collect();
    let source = union_source(&q.body, target, view)?;
    let (limit, offset) = limits(q)?;
    let mut order = Vec::new();
    for (e, desc) in order_terms(q, &first.projection)? {
        let col = match &e {
            Expr::Identifier(id) => names.iter().position(|n| n.eq_ignore_ascii_case(&id.value)),
            _ => names.iter().position(|n| *n == e.to_string()),
        }
        .or_else(|| {
            first.projection.iter().position(
                |i| matches!(i, SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } if *x == e),
            )
        })
        .ok_or_else(|| unsupported(format!("ORDER BY `{e}` on a UNION across shards; order by a selected column")))?;
        order.push(OrderKey { ev: Ev::Col(col), weight: None, desc });
    }
    let project = names.iter().enumerate().map(|(i, n)| Proj::Expr(Ev::Col(i), n.clone())).collect();
    Ok(Plan::Select(Box::new(Pipeline {
        source,
        filter: None,
        grouping: None,
        having: None,
        project,
        distinct: false,
        order,
        limit,
        offset,
        strip: 0,
        explicit: names.len(),
    })))
}

/// `select ... from (subquery) as d ...`: the derived table runs first (planned on its own),
/// the outer query in the gateway over its rows.
fn derived(
    q: &Query,
    sel: &Select,
    subquery: &Query,
    alias: &str,
    target: &Target,
    view: &RoutingView,
) -> Result<Plan, GatewayError> {
    if !super::window::windows(q, sel).is_empty() {
        return Err(unsupported("window functions over a derived table across shards"));
    }
    let inner = as_pipeline(crate::planner::route::plan_query_stmt(subquery, target, view)?)?;
    let first = first_select(&subquery.body).ok_or_else(|| unsupported("derived table without a SELECT"))?;
    if first.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))) {
        return Err(unsupported("`*` in a derived table across shards; name the columns"));
    }
    let names: Vec<String> = first.projection.iter().map(item_name).collect();
    let alias_lc = alias.to_ascii_lowercase();
    let mut pre = |e: &Expr, _w: bool| -> Result<Option<(usize, Option<usize>)>, EngineError> {
        let Some((qual, col)) = tables::column_ref(e) else { return Ok(None) };
        if qual.as_ref().is_some_and(|q| q.to_ascii_lowercase() != alias_lc) {
            return Err(EngineError::Unsupported(format!("column `{e}`: only `{alias}` is in scope")));
        }
        match names.iter().position(|n| n.eq_ignore_ascii_case(&col)) {
            Some(i) => Ok(Some((i, None))),
            None => Err(EngineError::Value(format!("Unknown column '{e}' in derived table `{alias}`"))),
        }
    };
    let filter = sel.selection.as_ref().map(|w| compile_pre(w, &mut pre)).transpose()?;
    let st = stages::build(q, sel, &mut pre)?;
    let source = Source::Derived(Box::new(inner), alias.to_string());
    // Every column of a derived table is known, and `*` over it is all of them (with
    // `names.len()` leading explicit columns, `SELECT *` projected none: a result with no
    // columns, which clients read as a malformed packet).
    Ok(Plan::Select(Box::new(st.over(source, filter, q, 0)?)))
}

/// A table of the FROM clause and how it joins the tables before it.
pub(super) struct Item {
    pub(super) tab: Tab,
    pub(super) factor: TableFactor,
    pub(super) join: Option<Join>,
    pub(super) kind: JoinKind,
    pub(super) on: Vec<Expr>,
}

/// Tables that one route reaches together.
pub(super) struct Comp {
    pub(super) items: Vec<usize>,
    pub(super) shards: Vec<String>,
    /// Only reference tables so far: any one shard answers; a table joined to them decides.
    pub(super) reference_only: bool,
}

fn select(q: &Query, sel: &Select, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    if let [twj] = sel.from.as_slice() {
        if let (true, TableFactor::Derived { subquery, alias: Some(a), .. }) = (twj.joins.is_empty(), &twj.relation) {
            return derived(q, sel, subquery, &a.name.value, target, view);
        }
    }
    if sel.from.is_empty() {
        return Err(unsupported("a SELECT without FROM here"));
    }
    // Derived tables joined with others: they run first, their rows come back as literals.
    if let Some(p) = super::derived_join::plan(q, sel) {
        return Ok(p);
    }
    // Windows the shards cannot compute, over one table: MariaDB evaluates them over its rows.
    if !super::window::windows(q, sel).is_empty() {
        if let ([twj], Some(p)) = (sel.from.as_slice(), super::window::materialize(q, sel)) {
            let TableFactor::Table { name, alias, .. } = &twj.relation else { return Ok(p) };
            let tab = tables::resolve(name, alias.as_ref(), target, view)?;
            if !super::window::shards_compute(q, sel, &tab) {
                return Ok(p);
            }
        }
    }
    let mut stripped = sel.clone();
    strip_keyspaces(&mut stripped);
    let mut items: Vec<Item> = Vec::new();
    for (twj, stw) in sel.from.iter().zip(&stripped.from) {
        items.push(item(&twj.relation, &stw.relation, None, target, view)?);
        for (j, sj) in twj.joins.iter().zip(&stw.joins) {
            items.push(item(&j.relation, &sj.relation, Some((j, sj)), target, view)?);
        }
    }
    // Literal rows go wherever the tables they join are.
    let anchor = items.iter().map(|i| i.tab.keyspace.clone()).find(|k| !k.is_empty());
    let Some(anchor) = anchor else { return Err(unsupported("a join of literal rows only")) };
    for it in items.iter_mut().filter(|i| i.tab.keyspace.is_empty()) {
        it.tab.keyspace = anchor.clone();
    }
    let where_conj: Vec<Expr> = stripped.selection.as_ref().map(conjuncts).unwrap_or_default();
    let tablet_type = target.tablet_type;
    // Group consecutive tables the shards can join themselves.
    let mut comps: Vec<Comp> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let own = shards_of(&it.tab, &where_conj, view, target)?;
        if let Some(c) = comps.last_mut() {
            let first = &items[c.items[0]];
            let same_ks = first.tab.keyspace == it.tab.keyspace;
            // Reference tables are on every shard: each shard joins its rows with its copy.
            // (Not as the outer side of a LEFT JOIN: every shard would add the unmatched rows.)
            let joinable = same_ks
                && (!it.tab.sharded
                    || it.tab.reference
                    || (c.reference_only && it.kind == JoinKind::Inner)
                    || c.items.iter().any(|&j| vindex_joined(&items[j].tab, it, &where_conj))
                    || (c.shards.len() == 1 && own == c.shards));
            if joinable {
                if c.reference_only && !it.tab.reference {
                    c.shards = own;
                    c.reference_only = false;
                } else if it.tab.sharded && !it.tab.reference && own.len() < c.shards.len() {
                    c.shards = own;
                }
                c.items.push(i);
                continue;
            }
        }
        comps.push(Comp { items: vec![i], shards: own, reference_only: it.tab.reference });
    }
    if comps.len() == 1 {
        let c = &comps[0];
        let ks = &items[0].tab.keyspace;
        if c.shards.len() == 1 {
            return Ok(Plan::Route {
                keyspace: ks.clone(),
                shards: c.shards.clone(),
                sql: {
                    let mut sq = q.clone();
                    strip_keyspaces(&mut sq);
                    sq.to_string()
                },
                tablet_type,
            });
        }
        let mut sq = q.clone();
        strip_keyspaces(&mut sq);
        let SetExpr::Select(ssel) = sq.body.as_ref() else { return Err(unsupported("not a SELECT")) };
        let tabs: Vec<Tab> = items.iter().map(|i| i.tab.clone()).collect();
        return Ok(Plan::Select(Box::new(scatter::plan(&sq, ssel, &tabs, ks, c.shards.clone(), tablet_type)?)));
    }
    if !super::window::windows(q, sel).is_empty() {
        return Err(unsupported("window functions over a join across shards"));
    }
    super::join_routes::joins(q, &stripped, &items, &comps, &where_conj, target)
}

fn item(
    f: &TableFactor,
    stripped: &TableFactor,
    join: Option<(&Join, &Join)>,
    target: &Target,
    view: &RoutingView,
) -> Result<Item, GatewayError> {
    let tab = match f {
        TableFactor::Table { name, alias, .. } => tables::resolve(name, alias.as_ref(), target, view)?,
        // Literal rows (a derived table already run): joinable on any shard, like a reference
        // table; its keyspace is the one of the tables it joins (set by the caller).
        TableFactor::Derived { subquery, alias: Some(a), lateral: false, .. }
            if super::derived_join::literal(subquery) =>
        {
            Tab {
                alias: a.name.value.clone(),
                name: a.name.value.clone(),
                keyspace: String::new(),
                sharded: true,
                vindex: None,
                reference: true,
                multi: None,
            }
        }
        _ => return Err(unsupported(format!("`{f}` joined with other tables across shards"))),
    };
    let (kind, on) = match join.map(|(j, _)| &j.join_operator) {
        None | Some(JoinOperator::CrossJoin(_)) => (JoinKind::Inner, Vec::new()),
        Some(JoinOperator::Join(c) | JoinOperator::Inner(c)) => (JoinKind::Inner, constraint(c)?),
        Some(JoinOperator::Left(c) | JoinOperator::LeftOuter(c)) => (JoinKind::Left, constraint(c)?),
        Some(other) => {
            return Err(unsupported(format!("{} across shards; write it as a LEFT or INNER JOIN", op_name(other))))
        }
    };
    // ON conditions as the shards see them (keyspace qualifiers dropped).
    let on = match join.map(|(_, sj)| &sj.join_operator) {
        Some(JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::Left(c) | JoinOperator::LeftOuter(c)) => {
            constraint(c)?
        }
        _ => on,
    };
    Ok(Item { tab, factor: stripped.clone(), join: join.map(|(_, sj)| sj.clone()), kind, on })
}

fn op_name(op: &JoinOperator) -> &'static str {
    match op {
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT JOIN",
        JoinOperator::FullOuter(_) => "FULL OUTER JOIN",
        _ => "this join",
    }
}

fn constraint(c: &JoinConstraint) -> Result<Vec<Expr>, GatewayError> {
    match c {
        JoinConstraint::On(e) => Ok(conjuncts(e)),
        JoinConstraint::None => Ok(Vec::new()),
        JoinConstraint::Using(_) => Err(unsupported("JOIN ... USING across shards; write ON a.col = b.col")),
        JoinConstraint::Natural => Err(unsupported("NATURAL JOIN across shards; write ON a.col = b.col")),
    }
}

fn shards_of(t: &Tab, conj: &[Expr], view: &RoutingView, target: &Target) -> Result<Vec<String>, GatewayError> {
    let ks = view.keyspace(&t.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(t.keyspace.clone()))?;
    let all = view.serving_shards(ks, target.tablet_type);
    if let (Some(s), true) = (&target.shard, target.keyspace.as_deref() == Some(t.keyspace.as_str())) {
        return Ok(vec![s.clone()]);
    }
    if t.reference {
        // Any one copy answers.
        return Ok(all.into_iter().take(1).collect());
    }
    if !t.sharded {
        if all.len() != 1 {
            return Err(GatewayError::Routing {
                keyspace: t.keyspace.clone(),
                message: format!("has {} serving shards but no sharded VSchema", all.len()),
            });
        }
        return Ok(all);
    }
    Ok(pinned(t, conj, false, view, target.tablet_type)?.unwrap_or(all))
}

/// Whether `it` is joined to `t` on both tables' vindex columns (same vindex).
fn vindex_joined(t: &Tab, it: &Item, where_conj: &[Expr]) -> bool {
    let (Some((_, v1)), Some((_, v2))) = (&t.vindex, &it.tab.vindex) else { return false };
    if v1 != v2 {
        return false;
    }
    let from_where: &[Expr] = if it.kind == JoinKind::Inner { where_conj } else { &[] };
    it.on.iter().chain(from_where).any(|c| match c {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            (is_vindex_col(left, t, false) && is_vindex_col(right, &it.tab, false))
                || (is_vindex_col(right, t, false) && is_vindex_col(left, &it.tab, false))
        }
        _ => false,
    })
}
