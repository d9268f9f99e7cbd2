//! Joins of several routes, planned: which columns each route returns (`Layout`), how the
//! routes are wired into nested loops (`wire`), and the pipeline that joins them (`joins`).

use std::collections::{BTreeSet, HashMap};

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SelectItem};

use super::has_aggregate;
use super::multi::{unsupported, Comp, Item};
use super::scatter;
use super::stages::{self, compile_pre, Pre};
use super::tables::{self, and_all, is_vindex_col};
use crate::plan::expr::Ev;
use crate::plan::pipeline::{JoinKey, JoinKind, JoinSpec, RouteSpec, Source};
use crate::plan::EngineError;
use crate::plan::GatewayError;
use crate::plan::Plan;
use crate::plan::Target;

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

pub(super) fn joins(
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
