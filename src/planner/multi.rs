//! Queries over several routes: joins (merged into one route when the shards can join them,
//! else nested loops in the gateway), derived tables and UNION.

use std::collections::{BTreeSet, HashMap};

use sqlparser::ast::{
    BinaryOperator, Expr, Join, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, SetOperator,
    SetQuantifier, TableFactor,
};

use super::scatter::{self, item_name, order_terms};
use super::stages::{self, compile_pre, Pre};
use super::tables::{self, and_all, conjuncts, is_vindex_col, pinned, strip_keyspaces, Tab};
use super::{has_aggregate, limits};
use crate::plan::expr::Ev;
use crate::plan::pipeline::{JoinKey, JoinKind, JoinSpec, OrderKey, Pipeline, Proj, RouteSpec, Source};
use crate::plan::EngineError;
use crate::plan::GatewayError;
use crate::plan::Plan;
use crate::plan::Target;
use crate::routing::RoutingView;

fn unsupported(m: impl Into<String>) -> GatewayError {
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
struct Item {
    tab: Tab,
    factor: TableFactor,
    join: Option<Join>,
    kind: JoinKind,
    on: Vec<Expr>,
}

/// Tables that one route reaches together.
struct Comp {
    items: Vec<usize>,
    shards: Vec<String>,
    /// Only reference tables so far: any one shard answers; a table joined to them decides.
    reference_only: bool,
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
    joins(q, &stripped, &items, &comps, &where_conj, target)
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

/// Columns each route returns, found in a first pass and placed in a second.
struct Layout<'a> {
    items: &'a [Item],
    /// Routes on the right of a LEFT JOIN: their rows may be NULL-extended.
    nullable: Vec<bool>,
    comp_of_item: Vec<usize>,
    cols: Vec<Vec<String>>,
    index: Vec<HashMap<String, usize>>,
    offsets: Vec<usize>,
}

impl Layout<'_> {
    fn push(&mut self, c: usize, text: String) -> usize {
        let j = match self.index[c].get(&text) {
            Some(j) => *j,
            None => {
                self.cols[c].push(text.clone());
                self.index[c].insert(text, self.cols[c].len() - 1);
                self.cols[c].len() - 1
            }
        };
        self.offsets[c] + j
    }

    /// Routes an expression refers to (qualified columns; unqualified ones are refused).
    fn comps(&self, e: &Expr) -> Result<BTreeSet<usize>, EngineError> {
        let mut out = BTreeSet::new();
        for q in tables::qualifiers(e) {
            if let Some(i) = self.items.iter().position(|it| it.tab.alias.eq_ignore_ascii_case(&q)) {
                out.insert(self.comp_of_item[i]);
            }
        }
        if let Some(c) = tables::bare_columns(e).first() {
            return Err(EngineError::Unsupported(format!(
                "unqualified column `{c}` in a join across shards; qualify it with its table"
            )));
        }
        Ok(out)
    }

    fn pre(&mut self, e: &Expr, weight: bool) -> Result<Option<(usize, Option<usize>)>, EngineError> {
        if has_aggregate(e) || matches!(e, Expr::Value(_)) {
            return Ok(None);
        }
        let r = self.comps(e)?;
        let c = match (r.len(), r.iter().next()) {
            (1, Some(c)) => *c,
            (0, _) if matches!(e, Expr::Function(_)) => 0,
            _ => return Ok(None),
        };
        // On a NULL-extended side only expressions that are NULL for NULL input can be
        // computed by the route (`x IS NULL` must see the gateway's NULL).
        if self.nullable[c] && tables::column_ref(e).is_none() && !null_propagating(e) {
            return Ok(None);
        }
        let text = e.to_string();
        let i = self.push(c, text.clone());
        let w = weight.then(|| self.push(c, scatter::ws(&text)));
        Ok(Some((i, w)))
    }
}

/// Whether an expression is NULL whenever a column in it is NULL (so a route may compute it for
/// rows the gateway NULL-extends).
fn null_propagating(e: &Expr) -> bool {
    let mut ok = true;
    let _ = sqlparser::ast::visit_expressions(e, |x: &Expr| {
        let bad = match x {
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::Case { .. }
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. } => true,
            Expr::BinaryOp { op, .. } => {
                matches!(op, BinaryOperator::Spaceship | BinaryOperator::Or | BinaryOperator::And)
            }
            Expr::Function(f) => {
                let n = f.name.to_string().to_ascii_lowercase();
                ["coalesce", "ifnull", "if", "isnull", "nvl", "concat_ws", "nullif", "greatest", "least", "count"]
                    .contains(&n.as_str())
            }
            _ => false,
        };
        if bad {
            ok = false;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    ok
}

struct Wiring {
    comp_where: Vec<Vec<Expr>>,
    keys: Vec<Vec<(Expr, Expr)>>,
    on: Vec<Vec<Expr>>,
    post: Vec<Expr>,
}

fn wire(items: &[Item], comps: &[Comp], layout: &Layout<'_>, where_conj: &[Expr]) -> Result<Wiring, GatewayError> {
    let n = comps.len();
    let nullable: Vec<bool> = comps.iter().map(|c| items[c.items[0]].kind == JoinKind::Left).collect();
    let mut w = Wiring {
        comp_where: vec![Vec::new(); n],
        keys: vec![Vec::new(); n],
        on: vec![Vec::new(); n],
        post: Vec::new(),
    };
    let split = |e: &Expr, c: usize, w: &mut Wiring| -> Result<(), GatewayError> {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = e {
            let (l, r) = (layout.comps(left)?, layout.comps(right)?);
            let earlier = |s: &BTreeSet<usize>| !s.is_empty() && s.iter().all(|x| *x < c);
            let here = |s: &BTreeSet<usize>| s.len() == 1 && s.contains(&c);
            if earlier(&l) && here(&r) && !has_aggregate(right) {
                w.keys[c].push((left.as_ref().clone(), right.as_ref().clone()));
                return Ok(());
            }
            if earlier(&r) && here(&l) && !has_aggregate(left) {
                w.keys[c].push((right.as_ref().clone(), left.as_ref().clone()));
                return Ok(());
            }
        }
        w.on[c].push(e.clone());
        Ok(())
    };
    for e in where_conj {
        let r = layout.comps(e)?;
        match (r.len(), r.iter().next_back()) {
            (0, _) => w.comp_where[0].push(e.clone()),
            (1, Some(&c)) if !nullable[c] => w.comp_where[c].push(e.clone()),
            (_, Some(&m)) if !nullable[m] && m > 0 => split(e, m, &mut w)?,
            _ => w.post.push(e.clone()),
        }
    }
    for (c, comp) in comps.iter().enumerate().skip(1) {
        for e in &items[comp.items[0]].on {
            let r = layout.comps(e)?;
            if r.iter().all(|x| *x == c) {
                w.comp_where[c].push(e.clone());
            } else {
                split(e, c, &mut w)?;
            }
        }
    }
    Ok(w)
}

fn joins(
    q: &Query,
    sel: &Select,
    items: &[Item],
    comps: &[Comp],
    where_conj: &[Expr],
    target: &Target,
) -> Result<Plan, GatewayError> {
    let mut comp_of_item = vec![0; items.len()];
    for (c, comp) in comps.iter().enumerate() {
        for &i in &comp.items {
            comp_of_item[i] = c;
        }
    }
    let n = comps.len();
    let mut layout = Layout {
        items,
        nullable: comps.iter().map(|c| items[c.items[0]].kind == JoinKind::Left).collect(),
        comp_of_item,
        cols: vec![Vec::new(); n],
        index: vec![HashMap::new(); n],
        offsets: vec![0; n],
    };
    // Two passes: the first finds every route's columns, the second places them.
    let mut built = None;
    for pass in 0..2 {
        if pass == 1 {
            let mut off = 0;
            for c in 0..n {
                layout.offsets[c] = off;
                off += layout.cols[c].len().max(1);
            }
        }
        let w = wire(items, comps, &layout, where_conj)?;
        let mut keys: Vec<Vec<JoinKey>> = vec![Vec::new(); n];
        let mut ons: Vec<Option<Ev>> = vec![None; n];
        for c in 1..n {
            for (l, r) in &w.keys[c] {
                let left = compile_pre(l, &mut |e: &Expr, wt: bool| layout.pre(e, wt))?;
                let right_text = r.to_string();
                let local = layout.index[c].get(&right_text).copied();
                let g = layout.push(c, right_text.clone());
                let right_col = local.unwrap_or(g - layout.offsets[c]);
                keys[c].push(JoinKey { left, right_col, right_sql: right_text });
            }
            if let Some(on) = and_all(&w.on[c]) {
                ons[c] = Some(compile_pre(&on, &mut |e: &Expr, wt: bool| layout.pre(e, wt))?);
            }
        }
        let filter = match and_all(&w.post) {
            Some(f) => Some(compile_pre(&f, &mut |e: &Expr, wt: bool| layout.pre(e, wt))?),
            None => None,
        };
        let st = {
            let mut pre = |e: &Expr, wt: bool| layout.pre(e, wt);
            let pre: &mut Pre<'_> = &mut pre;
            stages::build(q, sel, pre)?
        };
        built = Some((w, keys, ons, filter, st));
    }
    let Some((w, keys, ons, filter, st)) = built else { return Err(unsupported("join planning")) };
    // Each route's query: its columns, then `*` columns, from its tables.
    let stars_all = sel.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_)));
    let starred: BTreeSet<String> = sel
        .projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::QualifiedWildcard(k, _) => Some(stages::star_table(k).to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let mut route_sql = Vec::new();
    for (c, comp) in comps.iter().enumerate() {
        let mut list = layout.cols[c].clone();
        if list.is_empty() {
            list.push("1".into());
        }
        for &i in &comp.items {
            let a = &items[i].tab.alias;
            if stars_all || starred.contains(&a.to_ascii_lowercase()) {
                list.push(format!("{}.*", crate::sql::quote_ident(a)));
            }
        }
        let mut from = items[comp.items[0]].factor.to_string();
        for &i in &comp.items[1..] {
            match &items[i].join {
                Some(j) => from.push_str(&format!(" {j}")),
                None => from.push_str(&format!(" join {}", items[i].factor)),
            }
        }
        route_sql.push((format!("select {} from {from}", list.join(", ")), layout.cols[c].len().max(1)));
    }
    let ks = |c: usize| items[comps[c].items[0]].tab.keyspace.clone();
    let where_text = |c: usize| w.comp_where[c].iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let first_sql = {
        let (s, _) = &route_sql[0];
        let preds = where_text(0);
        if preds.is_empty() {
            s.clone()
        } else {
            format!("{s} where {}", preds.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" and "))
        }
    };
    let mut source = Source::Route(RouteSpec {
        keyspace: ks(0),
        shards: comps[0].shards.clone(),
        sql: first_sql,
        tablet_type: target.tablet_type,
        merge: Vec::new(),
        tail: 0,
    });
    let mut left_explicit = route_sql[0].1;
    let mut keys = keys;
    let mut ons = ons;
    for c in 1..n {
        let (sql, count) = &route_sql[c];
        let ks_keys = std::mem::take(&mut keys[c]);
        let right_vindex = w.keys[c].first().and_then(|(_, r)| {
            comps[c].items.iter().find_map(|&i| {
                let t = &items[i].tab;
                (t.sharded && is_vindex_col(r, t, false)).then(|| t.vindex.as_ref().map(|(_, v)| v.clone())).flatten()
            })
        });
        source = Source::Join(Box::new(JoinSpec {
            left: source,
            left_explicit,
            kind: items[comps[c].items[0]].kind,
            right_select: sql.clone(),
            right_where: where_text(c),
            right_keyspace: ks(c),
            right_shards: comps[c].shards.clone(),
            tablet_type: target.tablet_type,
            right_vindex,
            right_explicit: *count,
            keys: ks_keys,
            on: ons[c].take(),
            explicit: left_explicit + count,
        }));
        left_explicit += count;
    }
    Ok(Plan::Select(Box::new(st.over(source, filter, q, left_explicit)?)))
}
