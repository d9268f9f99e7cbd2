//! One route over several shards: push everything down, merge in the gateway.
//!
//! - No aggregation: the query goes as it is with its ORDER BY keys (and their weight strings)
//!   appended as hidden columns and LIMIT n+m; the gateway merge-sorts and cuts.
//! - GROUP BY containing the vindex column: groups never span shards; the same as above.
//! - Otherwise: the shards group and return partial aggregates (or, for DISTINCT aggregates,
//!   distinct raw values); the gateway merges, then applies HAVING, the select list, ORDER BY
//!   and LIMIT.

use std::collections::HashMap;

use sqlparser::ast::{Expr, GroupByExpr, LimitClause, OrderByKind, Query, Select, SelectItem, SetExpr};

use super::tables::{column_ref, is_vindex_col, Tab};
use super::{func_args, has_aggregate, limits, AGGREGATES};
use crate::plan::expr::Ev;
use crate::plan::pipeline::{AggKind, AggSpec, Grouping, OrderKey, Pipeline, Proj, RouteSpec, SortKey, Source};
use crate::plan::GatewayError;
use crate::protocol::topology::TabletType;

fn unsupported(m: String) -> GatewayError {
    GatewayError::Unsupported(m)
}

/// ORDER BY terms with positions and select aliases replaced by the selected expressions.
pub(crate) fn order_terms(q: &Query, items: &[SelectItem]) -> Result<Vec<(Expr, bool)>, GatewayError> {
    let Some(ob) = &q.order_by else { return Ok(Vec::new()) };
    let OrderByKind::Expressions(exprs) = &ob.kind else {
        return Err(unsupported("ORDER BY ALL".into()));
    };
    let mut out = Vec::new();
    for o in exprs {
        let desc = matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
        out.push((resolve_alias(&o.expr, items)?, desc));
    }
    Ok(out)
}

/// `ORDER BY 2` / `ORDER BY alias` / `GROUP BY alias`: the select list's expression.
pub(crate) fn resolve_alias(e: &Expr, items: &[SelectItem]) -> Result<Expr, GatewayError> {
    if let Some(crate::vindex::Value::Int(n)) = crate::planner::route::literal(e) {
        let item = usize::try_from(n - 1)
            .ok()
            .and_then(|i| items.get(i))
            .ok_or_else(|| GatewayError::Other(format!("Unknown column '{n}' in 'order clause'")))?;
        return match item {
            SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } => Ok(x.clone()),
            _ => Err(unsupported(format!("ORDER BY {n} naming a `*` across shards"))),
        };
    }
    if let Expr::Identifier(id) = e {
        for item in items {
            if let SelectItem::ExprWithAlias { expr, alias } = item {
                if alias.value.eq_ignore_ascii_case(&id.value) {
                    return Ok(expr.clone());
                }
            }
        }
    }
    Ok(e.clone())
}

pub(crate) fn item_name(item: &SelectItem) -> String {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
        SelectItem::UnnamedExpr(e) => match column_ref(e) {
            Some((_, c)) => c,
            None => e.to_string(),
        },
        other => other.to_string(),
    }
}

pub(crate) fn group_exprs(sel: &Select) -> Result<Vec<Expr>, GatewayError> {
    match &sel.group_by {
        GroupByExpr::Expressions(v, mods) if mods.is_empty() => {
            v.iter().map(|e| resolve_alias(e, &sel.projection)).collect()
        }
        _ => Err(unsupported("GROUP BY ALL / WITH ROLLUP across shards".into())),
    }
}

/// MySQL's sort weight of a string expression. MariaDB keeps trailing spaces in weight strings
/// although PAD SPACE collations (the defaults) ignore them: trim them first.
pub(crate) fn ws(e: &str) -> String {
    format!("weight_string(rtrim({e}))")
}

/// Plans a query over one route that reaches several shards.
pub fn plan(
    q: &Query,
    sel: &Select,
    tables: &[Tab],
    keyspace: &str,
    shards: Vec<String>,
    tablet_type: TabletType,
) -> Result<Pipeline, GatewayError> {
    let order = order_terms(q, &sel.projection)?;
    let (limit, offset) = limits(q)?;
    let groups = group_exprs(sel)?;
    let distinct = sel.distinct.is_some();
    if matches!(sel.distinct, Some(sqlparser::ast::Distinct::On(_))) {
        return Err(unsupported("DISTINCT ON".into()));
    }
    let exprs_with_aggr = sel.projection.iter().any(|i| match i {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
        _ => false,
    }) || sel.having.as_ref().is_some_and(has_aggregate)
        || order.iter().any(|(e, _)| has_aggregate(e));
    // Windows the shards can compute (partitioned by the sharding column), over plain rows.
    if !super::window::windows(q, sel).is_empty() {
        super::window::check(q, sel, tables)?;
        if !groups.is_empty() || distinct || exprs_with_aggr {
            return Err(unsupported("window functions with GROUP BY, DISTINCT or aggregates across shards".into()));
        }
    }
    let only = tables.len() == 1;
    let local_groups = !groups.is_empty() && groups.iter().any(|g| tables.iter().any(|t| is_vindex_col(g, t, only)));
    let local_distinct = distinct
        && groups.is_empty()
        && !exprs_with_aggr
        && sel.projection.iter().any(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                tables.iter().any(|t| is_vindex_col(e, t, only))
            }
            _ => false,
        });
    let route = |sql: String, merge: Vec<SortKey>, tail: usize| RouteSpec {
        keyspace: keyspace.to_string(),
        shards: shards.clone(),
        sql,
        tablet_type,
        merge,
        tail,
    };
    if (groups.is_empty() && !distinct && !exprs_with_aggr) || local_groups || local_distinct {
        // Pass-through: the shards' rows merged in ORDER BY order (GROUP BY order if none:
        // MariaDB sorts groups).
        let mut keys = order.clone();
        let mut pushed = q.clone();
        if keys.is_empty() && local_groups {
            keys = groups.iter().map(|g| (g.clone(), false)).collect();
            let terms = groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", ");
            let with_order = format!("select 1 order by {terms}");
            if let Ok(mut parsed) = crate::sql::parse::parse(&with_order) {
                if let Some(sqlparser::ast::Statement::Query(oq)) = parsed.pop() {
                    pushed.order_by = oq.order_by;
                }
            }
        }
        let SetExpr::Select(ps) = pushed.body.as_mut() else { return Err(unsupported("UNION here".into())) };
        for (e, _) in &keys {
            let text = e.to_string();
            ps.projection.push(SelectItem::UnnamedExpr(e.clone()));
            ps.projection.push(SelectItem::UnnamedExpr(parse_expr(&ws(&text))?));
        }
        let hidden = keys.len() * 2;
        if let Some(l) = limit {
            let n = l.saturating_add(offset);
            pushed.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(parse_expr(&n.to_string())?),
                offset: None,
                limit_by: Vec::new(),
            });
        }
        let merge = keys
            .iter()
            .enumerate()
            .map(|(i, (_, desc))| SortKey { col: 2 * i, weight: Some(2 * i + 1), desc: *desc })
            .collect();
        return Ok(Pipeline {
            limit,
            offset,
            strip: hidden,
            ..Pipeline::over(Source::Route(route(pushed.to_string(), merge, hidden)))
        });
    }
    if sel.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))) {
        return Err(unsupported("`*` with GROUP BY, DISTINCT or aggregates across shards".into()));
    }
    aggregate_plan(q, sel, groups, order, limit, offset, route)
}

#[derive(Default)]
struct Pushed {
    items: Vec<String>,
    index: HashMap<String, usize>,
}

impl Pushed {
    fn push(&mut self, text: String) -> usize {
        if let Some(i) = self.index.get(&text) {
            return *i;
        }
        self.items.push(text.clone());
        self.index.insert(text, self.items.len() - 1);
        self.items.len() - 1
    }
}

pub(crate) fn parse_expr(text: &str) -> Result<Expr, GatewayError> {
    Ok(crate::sql::parse::parse_expr(text)?)
}

#[allow(clippy::too_many_arguments)]
fn aggregate_plan(
    q: &Query,
    sel: &Select,
    mut groups: Vec<Expr>,
    order: Vec<(Expr, bool)>,
    limit: Option<u64>,
    offset: u64,
    route: impl Fn(String, Vec<SortKey>, usize) -> RouteSpec,
) -> Result<Pipeline, GatewayError> {
    let distinct = sel.distinct.is_some();
    let has_aggr = !groups.is_empty()
        || sel.having.is_some()
        || sel.projection.iter().any(
            |i| matches!(i, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } if has_aggregate(e)),
        )
        || order.iter().any(|(e, _)| has_aggregate(e));
    // DISTINCT without aggregation: group by the select list.
    let distinct_as_group = distinct && !has_aggr;
    if distinct_as_group {
        for i in &sel.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = i {
                groups.push(e.clone());
            }
        }
    }
    let calls = super::stages::aggregate_calls(sel, &order);
    let mut parsed = Vec::new();
    for f in &calls {
        let name = f.name.to_string().to_ascii_lowercase();
        if !AGGREGATES.contains(&name.as_str()) {
            return Err(unsupported(format!("aggregate {}() across shards", name.to_ascii_uppercase())));
        }
        let (args, d) = func_args(f)?;
        if args.len() != 1 {
            return Err(unsupported(format!("`{f}` with {} arguments", args.len())));
        }
        parsed.push((name, args.into_iter().next().flatten(), d));
    }
    // DISTINCT aggregates and ordered GROUP_CONCAT need every value: raw rows, not partials.
    let mut orders = Vec::with_capacity(calls.len());
    for f in &calls {
        orders.push(super::concat_order(f)?);
    }
    let raw = parsed.iter().any(|(_, _, d)| *d) || orders.iter().any(|o| !o.is_empty());
    let mut pushed = Pushed::default();
    let mut keys = Vec::new();
    for g in &groups {
        let t = g.to_string();
        let i = pushed.push(t.clone());
        let w = pushed.push(ws(&t));
        keys.push((Ev::Col(i), Some(w), t));
    }
    let mut aggs: Vec<AggSpec> = Vec::new();
    let mut agg_index: HashMap<String, usize> = HashMap::new();
    for ((f, (name, arg, d)), order) in calls.iter().zip(&parsed).zip(&orders) {
        let arg_text = arg.as_ref().map(|a| a.to_string());
        let kind = match (name.as_str(), &arg_text) {
            ("count", None) => AggKind::CountStar,
            ("count", _) => AggKind::Count,
            ("sum", _) => AggKind::Sum,
            ("min", _) => AggKind::Min,
            ("max", _) => AggKind::Max,
            ("group_concat", _) => AggKind::GroupConcat,
            _ => AggKind::Avg,
        };
        let a = arg_text.clone().unwrap_or_default();
        let separator = if kind == AggKind::GroupConcat { super::separator(f) } else { Vec::new() };
        let mut spec = AggSpec {
            kind,
            name: f.to_string(),
            arg: None,
            count_arg: None,
            weight: None,
            merge: !raw,
            distinct: *d,
            separator,
            order: Vec::new(),
        };
        if raw {
            for (e, desc) in order {
                let t = e.to_string();
                let col = pushed.push(t.clone());
                spec.order.push((col, Some(pushed.push(ws(&t))), *desc));
            }
            if kind != AggKind::CountStar {
                spec.arg = Some(Ev::Col(pushed.push(a.clone())));
                if matches!(kind, AggKind::Min | AggKind::Max | AggKind::Count) || (kind == AggKind::GroupConcat && *d)
                {
                    spec.weight = Some(pushed.push(ws(&a)));
                }
            }
        } else {
            match kind {
                // Each shard's list, joined by the gateway with the same separator.
                AggKind::GroupConcat => {
                    let sep = crate::sql::quote_bytes(&spec.separator);
                    spec.arg = Some(Ev::Col(pushed.push(format!("group_concat({a} SEPARATOR {sep})"))));
                }
                AggKind::CountStar => spec.arg = Some(Ev::Col(pushed.push("count(*)".into()))),
                AggKind::Count => spec.arg = Some(Ev::Col(pushed.push(format!("count({a})")))),
                AggKind::Sum => spec.arg = Some(Ev::Col(pushed.push(format!("sum({a})")))),
                AggKind::Min | AggKind::Max => {
                    let t = format!("{name}({a})");
                    spec.arg = Some(Ev::Col(pushed.push(t.clone())));
                    spec.weight = Some(pushed.push(ws(&t)));
                }
                _ => {
                    spec.arg = Some(Ev::Col(pushed.push(format!("sum({a})"))));
                    spec.count_arg = Some(pushed.push(format!("count({a})")));
                }
            }
            if kind == AggKind::CountStar {
                spec.kind = AggKind::Count;
            }
        }
        agg_index.insert(f.to_string(), aggs.len());
        aggs.push(spec);
    }
    let k = keys.len();
    let group_text: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    // Post-aggregation expressions: aggregates, grouped expressions, or other columns (any value).
    let mut post_agg = super::stages::PostAgg::new(&groups, agg_index);
    let mut compile_post = |e: &Expr, aggs: &mut Vec<AggSpec>, pushed: &mut Pushed| -> Result<Ev, GatewayError> {
        post_agg.compile(e, aggs, &mut |x: &Expr| Ok((Ev::Col(pushed.push(x.to_string())), !raw)))
    };
    let mut project = Vec::new();
    for item in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            project.push(Proj::Expr(compile_post(e, &mut aggs, &mut pushed)?, item_name(item)));
        }
    }
    let having = match &sel.having {
        Some(h) => {
            let h = resolve_having_aliases(h, &sel.projection);
            Some(compile_post(&h, &mut aggs, &mut pushed)?)
        }
        None => None,
    };
    let mut order_evs = Vec::new();
    for (e, desc) in &order {
        order_evs.push((compile_post(e, &mut aggs, &mut pushed)?, *desc));
    }
    // Key weight strings follow the aggregates in the grouped rows.
    let weight_of = |ev: &Ev| match ev {
        Ev::Col(i) if *i < k => Some(k + aggs.len() + i),
        _ => None,
    };
    let mut order_keys: Vec<OrderKey> =
        order_evs.iter().map(|(ev, desc)| OrderKey { ev: ev.clone(), weight: weight_of(ev), desc: *desc }).collect();
    if order_keys.is_empty() && !group_text.is_empty() && !distinct_as_group {
        order_keys =
            (0..k).map(|i| OrderKey { ev: Ev::Col(i), weight: Some(k + aggs.len() + i), desc: false }).collect();
    }
    let mut sql = format!("select {}", pushed.items.join(", "));
    if raw && groups.is_empty() && aggs.iter().all(|a| a.distinct || matches!(a.kind, AggKind::Min | AggKind::Max)) {
        sql = format!("select distinct {}", pushed.items.join(", "));
    }
    if !sel.from.is_empty() {
        sql.push_str(" from ");
        sql.push_str(&sel.from.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "));
    }
    if let Some(w) = &sel.selection {
        sql.push_str(&format!(" where {w}"));
    }
    if !raw && !groups.is_empty() {
        sql.push_str(&format!(" group by {}", group_text.join(", ")));
    }
    let _ = q;
    Ok(Pipeline {
        source: Source::Route(route(sql, Vec::new(), 0)),
        filter: None,
        grouping: Some(Grouping { keys, aggs, scalar: groups.is_empty() }),
        having,
        project,
        distinct: distinct && !distinct_as_group,
        order: order_keys,
        limit,
        offset,
        strip: 0,
        explicit: 0,
    })
}

/// HAVING may name select aliases.
pub(crate) fn resolve_having_aliases(h: &Expr, items: &[SelectItem]) -> Expr {
    let mut h = h.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut h, |x: &mut Expr| {
        let replacement = match x {
            Expr::Identifier(id) => items.iter().find_map(|item| match item {
                SelectItem::ExprWithAlias { expr, alias }
                    if alias.value.eq_ignore_ascii_case(&id.value) && !matches!(expr, Expr::Identifier(_)) =>
                {
                    Some(Expr::Nested(Box::new(expr.clone())))
                }
                _ => None,
            }),
            _ => None,
        };
        if let Some(r) = replacement {
            *x = r;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    h
}
