//! The tables of a query: which keyspace each lives in, its primary vindex, and which shards a
//! WHERE pins it to.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_relations_mut, BinaryOperator, Expr, ObjectName, TableAlias};

use crate::plan::GatewayError;
use crate::plan::Target;
use crate::planner::route::literal;
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::vindex::Configured;

/// One table of a FROM clause.
#[derive(Debug, Clone)]
pub struct Tab {
    /// How the query names it (its alias, else its table name).
    pub alias: String,
    pub name: String,
    pub keyspace: String,
    pub sharded: bool,
    /// Primary vindex column and vindex, for a sharded table.
    pub vindex: Option<(String, String)>,
    /// A reference table of a sharded keyspace: a copy on every shard (no vindex).
    pub reference: bool,
    /// A multi-column primary vindex (`multicol`, `region_*`): its columns and name.
    pub multi: Option<(Vec<String>, String)>,
}

/// The tables in scope.
pub type Tables = Vec<Tab>;

/// Resolves a table name to its keyspace (qualifier, session keyspace, or the only keyspace
/// whose VSchema has it).
pub fn resolve(
    name: &ObjectName,
    alias: Option<&TableAlias>,
    target: &Target,
    view: &RoutingView,
) -> Result<Tab, GatewayError> {
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_string()).collect();
    let (qualifier, table) = match parts.as_slice() {
        [t] => (None, t.clone()),
        [ks, t] => (Some(ks.as_str()), t.clone()),
        _ => return Err(GatewayError::Syntax(format!("`{name}` has too many qualifiers"))),
    };
    let ks = match view.table_keyspace(qualifier, target.keyspace.as_deref(), &table, target.tablet_type) {
        Ok(ks) => ks,
        Err(many) if many.is_empty() => return Err(GatewayError::NoDatabase),
        Err(many) => {
            return Err(GatewayError::Routing {
                keyspace: many.join(","),
                message: format!("table `{table}` is in several keyspaces; qualify it or `use` one"),
            })
        }
    };
    let k = view.keyspace(&ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.clone()))?;
    let sharded = k.vschema.as_ref().is_some_and(|v| v.sharded);
    let mut vindex = None;
    let mut multi = None;
    if sharded {
        let vs = k.vschema.as_ref().ok_or_else(|| GatewayError::UnknownKeyspace(ks.clone()))?;
        let t = vs
            .tables
            .get(&table)
            .ok_or_else(|| GatewayError::UnknownTable { keyspace: ks.clone(), table: table.clone() })?;
        if t.table_type == "reference" {
            return Ok(Tab {
                alias: alias.map(|a| a.name.value.clone()).unwrap_or_else(|| table.clone()),
                name: table,
                keyspace: ks,
                sharded,
                vindex: None,
                reference: true,
                multi: None,
            });
        }
        if let Some(cv) = t.column_vindexes.first() {
            let cols = cv.column_list();
            if let ([col], Some(Configured::Functional(_))) =
                (cols.as_slice(), view.vindexes.get(&ks).and_then(|v| v.get(&cv.name)))
            {
                vindex = Some((col.to_string(), cv.name.clone()));
            }
        }
        if let (Some(cv), None) = (t.column_vindexes.first(), &vindex) {
            if let Some(Configured::Multi(_)) = view.vindexes.get(&ks).and_then(|v| v.get(&cv.name)) {
                let cols = cv.column_list().into_iter().map(str::to_string).collect();
                multi = Some((cols, cv.name.clone()));
            }
        }
        // A lookup primary vindex: its rows are wherever the lookup says; read from every shard.
        let lookup = t.column_vindexes.first().is_some_and(|cv| super::route::is_lookup(view, &ks, &cv.name));
        if vindex.is_none() && multi.is_none() && !lookup {
            return Err(GatewayError::Unsupported(format!(
                "table `{table}` without a single-column functional primary vindex in a query across shards"
            )));
        }
    }
    Ok(Tab {
        alias: alias.map(|a| a.name.value.clone()).unwrap_or_else(|| table.clone()),
        name: table,
        keyspace: ks,
        sharded,
        vindex,
        reference: false,
        multi,
    })
}

/// Drops keyspace qualifiers from table names (a tablet's database is its keyspace's).
pub fn strip_keyspaces<T: sqlparser::ast::VisitMut>(node: &mut T) {
    let _ = visit_relations_mut(node, |name: &mut ObjectName| {
        if name.0.len() == 2 {
            if let Some(last) = name.0.last().cloned() {
                *name = ObjectName(vec![last]);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The top-level AND terms of an expression.
pub fn conjuncts(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            conjuncts(inner)
        }
        other => vec![other.clone()],
    }
}

/// `a AND b AND ...`.
pub fn and_all(parts: &[Expr]) -> Option<Expr> {
    let mut it = parts.iter().cloned();
    let first = it.next()?;
    Some(it.fold(first, |acc, e| Expr::BinaryOp {
        left: Box::new(acc),
        op: BinaryOperator::And,
        right: Box::new(Expr::Nested(Box::new(e))),
    }))
}

/// A column reference: (qualifier, column).
pub fn column_ref(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, i.value.clone())),
        Expr::CompoundIdentifier(p) if p.len() == 2 => Some((Some(p[0].value.clone()), p[1].value.clone())),
        Expr::CompoundIdentifier(p) if p.len() == 3 => Some((Some(p[1].value.clone()), p[2].value.clone())),
        Expr::Nested(inner) => column_ref(inner),
        _ => None,
    }
}

/// Whether `e` is the vindex column of `t` (qualified by its alias, or unqualified when `t` is
/// the only table).
pub fn is_vindex_col(e: &Expr, t: &Tab, only: bool) -> bool {
    let Some((q, c)) = column_ref(e) else { return false };
    let Some((vcol, _)) = &t.vindex else { return false };
    c.eq_ignore_ascii_case(vcol)
        && match q {
            Some(q) => q.eq_ignore_ascii_case(&t.alias),
            None => only,
        }
}

/// Shards `t` is pinned to by `col = literal` / `col IN (literals)` conjuncts; `None`: all.
pub fn pinned(
    t: &Tab,
    conj: &[Expr],
    only: bool,
    view: &RoutingView,
    tablet_type: TabletType,
) -> Result<Option<Vec<String>>, GatewayError> {
    let (cols, vindex): (Vec<&str>, &str) = match (&t.vindex, &t.multi) {
        (Some((c, v)), _) => (vec![c.as_str()], v.as_str()),
        (None, Some((cs, v))) => (cs.iter().map(String::as_str).collect(), v.as_str()),
        _ => return Ok(None),
    };
    // The values of the longest prefix of the vindex columns the conjuncts pin.
    let mut lists = Vec::new();
    for col in cols {
        match conj.iter().find_map(|c| column_values(c, t, col, only)) {
            Some(values) => lists.push(values),
            None => break,
        }
    }
    let Some(combos) = crate::planner::route::combinations(&lists, 256) else { return Ok(None) };
    let ks = view.keyspace(&t.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(t.keyspace.clone()))?;
    let mut set = BTreeSet::new();
    for combo in combos {
        let d = view.destination(&t.keyspace, vindex, &combo)?;
        set.extend(view.dest_shards(ks, &d, tablet_type));
    }
    let all = view.serving_shards(ks, tablet_type);
    Ok(Some(all.into_iter().filter(|s| set.contains(s)).collect()))
}

/// The literal values `c` (`col = v`, `col IN (...)`) pins column `col` of `t` to.
fn column_values(c: &Expr, t: &Tab, col: &str, only: bool) -> Option<Vec<crate::vindex::Value>> {
    let is_col = |e: &Expr| {
        column_ref(e).is_some_and(|(q, name)| {
            name.eq_ignore_ascii_case(col)
                && match q {
                    Some(q) => q.eq_ignore_ascii_case(&t.alias),
                    None => only,
                }
        })
    };
    match c {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            if is_col(left) {
                literal(right).map(|v| vec![v])
            } else if is_col(right) {
                literal(left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList { expr, list, negated: false } if is_col(expr) => list.iter().map(literal).collect(),
        _ => None,
    }
}

/// Table qualifiers an expression uses (including correlated references inside subqueries).
pub fn qualifiers(e: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = visit_expressions(e, |x: &Expr| {
        if let Expr::CompoundIdentifier(p) = x {
            if p.len() >= 2 {
                out.insert(p[p.len() - 2].value.to_ascii_lowercase());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Unqualified column names an expression uses (outside subqueries).
pub fn bare_columns(e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = visit_expressions(&super::without_subqueries(e), |x: &Expr| {
        if let Expr::Identifier(i) = x {
            out.push(i.value.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    out
}
