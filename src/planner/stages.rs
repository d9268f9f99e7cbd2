//! SELECT's clauses evaluated in the gateway over rows it holds (joined across routes, or a
//! derived table's): grouping with raw aggregates, HAVING, the select list, DISTINCT and ORDER
//! BY. `pre` provides an expression as a column of the input when it can (pushed to a route,
//! or a derived table's column), with its weight string if asked.

use std::collections::HashMap;

use sqlparser::ast::{Expr, Query, Select, SelectItem};

use super::scatter::{group_exprs, item_name, order_terms};
use super::tables::column_ref;
use super::{func_args, has_aggregate, is_aggregate, AGGREGATES};
use crate::plan::expr::Ev;
use crate::plan::pipeline::{AggKind, AggSpec, Grouping, OrderKey, Pipeline, Proj, Source};
use crate::plan::EngineError;
use crate::plan::GatewayError;
use crate::planner::compile::compile;

/// Provides `expr` as an input column (and its weight string's column when asked).
pub type Pre<'a> = dyn FnMut(&Expr, bool) -> Result<Option<(usize, Option<usize>)>, EngineError> + 'a;

pub struct Stages {
    pub grouping: Option<Grouping>,
    pub having: Option<Ev>,
    pub project: Vec<Proj>,
    pub distinct: bool,
    pub order: Vec<OrderKey>,
}

impl Stages {
    /// The pipeline of these stages over `source` (whose first `explicit` columns the planner
    /// placed).
    pub fn over(
        self,
        source: Source,
        filter: Option<Ev>,
        q: &Query,
        explicit: usize,
    ) -> Result<Pipeline, GatewayError> {
        let (limit, offset) = super::limits(q)?;
        Ok(Pipeline {
            source,
            filter,
            grouping: self.grouping,
            having: self.having,
            project: self.project,
            distinct: self.distinct,
            order: self.order,
            limit,
            offset,
            strip: 0,
            explicit,
        })
    }
}

pub fn compile_pre(e: &Expr, pre: &mut Pre<'_>) -> Result<Ev, EngineError> {
    compile(e, &mut |x: &Expr| Ok(pre(x, false)?.map(|(i, _)| i)))
}

/// Every aggregate call of the select list, HAVING and ORDER BY, once (not those of subqueries).
pub(crate) fn aggregate_calls(sel: &Select, order: &[(Expr, bool)]) -> Vec<sqlparser::ast::Function> {
    let mut calls: Vec<sqlparser::ast::Function> = Vec::new();
    let mut collect = |e: &Expr| {
        let _ = sqlparser::ast::visit_expressions(&super::without_subqueries(e), |x: &Expr| {
            if let Expr::Function(f) = x {
                if is_aggregate(f) && !calls.iter().any(|c| c.to_string() == f.to_string()) {
                    calls.push(f.clone());
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    };
    for i in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = i {
            collect(e);
        }
    }
    if let Some(h) = &sel.having {
        collect(h);
    }
    for (e, _) in order {
        collect(e);
    }
    calls
}

pub fn build(q: &Query, sel: &Select, pre: &mut Pre<'_>) -> Result<Stages, GatewayError> {
    let order = order_terms(q, &sel.projection)?;
    let groups = group_exprs(sel)?;
    let aggregated = !groups.is_empty()
        || sel.having.is_some()
        || sel.projection.iter().any(
            |i| matches!(i, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } if has_aggregate(e)),
        )
        || order.iter().any(|(e, _)| has_aggregate(e));
    if !aggregated {
        let mut project = Vec::new();
        for item in &sel.projection {
            project.push(match item {
                SelectItem::Wildcard(_) => Proj::Star(None),
                SelectItem::QualifiedWildcard(k, _) => Proj::Star(Some(star_table(k))),
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    Proj::Expr(compile_pre(e, pre)?, item_name(item))
                }
                other => return Err(GatewayError::Unsupported(format!("select item `{other}`"))),
            });
        }
        let mut keys = Vec::new();
        for (e, desc) in &order {
            let weight = pre(e, true)?.and_then(|(_, w)| w);
            keys.push(OrderKey { ev: compile_pre(e, pre)?, weight, desc: *desc });
        }
        return Ok(Stages { grouping: None, having: None, project, distinct: sel.distinct.is_some(), order: keys });
    }
    if sel.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))) {
        return Err(GatewayError::Unsupported("`*` with GROUP BY or aggregates across shards".into()));
    }
    let mut keys = Vec::new();
    for g in &groups {
        let weight = pre(g, true)?.and_then(|(_, w)| w);
        keys.push((compile_pre(g, pre)?, weight, g.to_string()));
    }
    let k = keys.len();
    let mut aggs = Vec::new();
    let mut agg_index: HashMap<String, usize> = HashMap::new();
    for f in aggregate_calls(sel, &order) {
        let name = f.name.to_string().to_ascii_lowercase();
        if !AGGREGATES.contains(&name.as_str()) || name == "group_concat" {
            return Err(GatewayError::Unsupported(format!("aggregate {}() across shards", name.to_ascii_uppercase())));
        }
        let (args, distinct) = func_args(&f)?;
        let [arg] = args.as_slice() else {
            return Err(GatewayError::Unsupported(format!("`{f}` with {} arguments", args.len())));
        };
        let kind = match (name.as_str(), arg) {
            ("count", None) => AggKind::CountStar,
            ("count", _) => AggKind::Count,
            ("sum", _) => AggKind::Sum,
            ("min", _) => AggKind::Min,
            ("max", _) => AggKind::Max,
            _ => AggKind::Avg,
        };
        let (arg_ev, weight) = match arg {
            Some(a) => {
                let weight = if matches!(kind, AggKind::Min | AggKind::Max) || distinct {
                    pre(a, true)?.and_then(|(_, w)| w)
                } else {
                    None
                };
                (Some(compile_pre(a, pre)?), weight)
            }
            None => (None, None),
        };
        agg_index.insert(f.to_string(), aggs.len());
        aggs.push(AggSpec {
            kind,
            name: f.to_string(),
            arg: arg_ev,
            count_arg: None,
            weight,
            merge: false,
            distinct,
            separator: Vec::new(),
            order: Vec::new(),
        });
    }
    let mut post_agg = PostAgg::new(&groups, agg_index);
    let mut post = |e: &Expr, aggs: &mut Vec<AggSpec>, pre: &mut Pre<'_>| -> Result<Ev, GatewayError> {
        post_agg.compile(e, aggs, &mut |x: &Expr| Ok((compile_pre(x, pre)?, false)))
    };
    let mut project = Vec::new();
    for item in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            project.push(Proj::Expr(post(e, &mut aggs, pre)?, item_name(item)));
        }
    }
    let having = match &sel.having {
        Some(h) => Some(post(&super::scatter::resolve_having_aliases(h, &sel.projection), &mut aggs, pre)?),
        None => None,
    };
    let mut order_evs = Vec::new();
    for (e, desc) in &order {
        order_evs.push((post(e, &mut aggs, pre)?, *desc));
    }
    let n = aggs.len();
    let weight_slots: Vec<Option<usize>> = {
        let mut next = k + n;
        keys.iter()
            .map(|(_, w, _)| {
                w.map(|_| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    };
    let weight_of = |ev: &Ev| match ev {
        Ev::Col(i) if *i < k => weight_slots[*i],
        _ => None,
    };
    let mut order_keys: Vec<OrderKey> =
        order_evs.iter().map(|(ev, desc)| OrderKey { ev: ev.clone(), weight: weight_of(ev), desc: *desc }).collect();
    if order_keys.is_empty() {
        order_keys = (0..k).map(|i| OrderKey { ev: Ev::Col(i), weight: weight_slots[i], desc: false }).collect();
    }
    Ok(Stages {
        grouping: Some(Grouping { keys, aggs, scalar: groups.is_empty() }),
        having,
        project,
        distinct: sel.distinct.is_some(),
        order: order_keys,
    })
}

/// Gives an "any value" aggregate's argument, and whether it merges the shards' partials.
pub(crate) type AnyArg<'a> = dyn FnMut(&Expr) -> Result<(Ev, bool), EngineError> + 'a;

/// Compiles expressions evaluated after grouping: aggregate calls and grouped expressions
/// become the grouped row's columns; other columns are "any value" aggregates (MySQL's
/// permissive GROUP BY), added on first use through `any`.
pub(crate) struct PostAgg {
    keys: usize,
    agg_index: HashMap<String, usize>,
    group_text: Vec<String>,
    group_cols: Vec<Option<(Option<String>, String)>>,
    any_value: Vec<(String, usize)>,
}

impl PostAgg {
    pub fn new(groups: &[Expr], agg_index: HashMap<String, usize>) -> Self {
        PostAgg {
            keys: groups.len(),
            agg_index,
            group_text: groups.iter().map(|g| g.to_string()).collect(),
            group_cols: groups.iter().map(column_ref).collect(),
            any_value: Vec::new(),
        }
    }

    /// `any(column)` gives the AnyValue aggregate's argument and whether it merges partials.
    pub fn compile(&mut self, e: &Expr, aggs: &mut Vec<AggSpec>, any: &mut AnyArg<'_>) -> Result<Ev, GatewayError> {
        let k = self.keys;
        let mut resolve = |x: &Expr| -> Result<Option<usize>, EngineError> {
            let t = x.to_string();
            if let Some(i) = self.agg_index.get(&t) {
                return Ok(Some(k + i));
            }
            if let Some(i) = self.group_text.iter().position(|g| *g == t) {
                return Ok(Some(i));
            }
            let Some((q, c)) = column_ref(x) else { return Ok(None) };
            let same = |g: &Option<(Option<String>, String)>| {
                g.as_ref().is_some_and(|(gq, gc)| {
                    gc.eq_ignore_ascii_case(&c)
                        && match (gq, &q) {
                            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                            _ => true,
                        }
                })
            };
            if let Some(i) = self.group_cols.iter().position(same) {
                return Ok(Some(i));
            }
            if let Some((_, i)) = self.any_value.iter().find(|(n, _)| *n == t) {
                return Ok(Some(k + i));
            }
            let (arg, merge) = any(x)?;
            aggs.push(AggSpec {
                kind: AggKind::AnyValue,
                name: t.clone(),
                arg: Some(arg),
                count_arg: None,
                weight: None,
                merge,
                distinct: false,
                separator: Vec::new(),
                order: Vec::new(),
            });
            self.any_value.push((t, aggs.len() - 1));
            Ok(Some(k + aggs.len() - 1))
        };
        Ok(compile(e, &mut resolve)?)
    }
}

/// The table of `t.*` (or `ks.t.*`).
pub fn star_table(k: &sqlparser::ast::SelectItemQualifiedWildcardKind) -> String {
    let t = match k {
        sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
            n.0.last().map(|p| p.to_string()).unwrap_or_default()
        }
        sqlparser::ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
    };
    t.trim_matches('`').to_string()
}
