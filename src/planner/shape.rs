//! Normalised query text for the plan cache: literals out, `?` in. A routed SELECT planned once
//! serves every statement of the same shape: its SQL is the planner's rendering with the new
//! literals put back, its shards recomputed from the literals that routed it.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, Expr, SetExpr, Statement, TableFactor};

use super::route::vindex_values;
use crate::plan::{Plan, Target};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::vindex::Value;

/// A literal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lit {
    pub text: String,
    pub string: bool,
}

/// Text with literals replaced by `?` (numbers) and `?'` (strings), runs of whitespace as one
/// space; and the literals in order. `None` for text it does not normalise (comments, hex and
/// bit literals, character set introducers).
pub fn normalise(sql: &str) -> Option<(String, Vec<Lit>)> {
    let b = sql.trim().trim_end_matches(';').trim_end().as_bytes();
    let mut shape = Vec::with_capacity(b.len());
    let mut lits = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i)? {
                        b'\\' => i += 2,
                        q if *q == c => {
                            if b.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
                // `_utf8mb4'x'`, `x'..'`, `b'..'`: not a plain literal.
                if start > 0 && ident(b[start - 1]) {
                    return None;
                }
                lits.push(Lit { text: String::from_utf8(b[start..i].to_vec()).ok()?, string: true });
                shape.extend_from_slice(b"?'");
            }
            b'`' => {
                let start = i;
                i += 1;
                while *b.get(i)? != b'`' || b.get(i + 1) == Some(&b'`') {
                    i += if b[i] == b'`' { 2 } else { 1 };
                }
                i += 1;
                shape.extend_from_slice(&b[start..i]);
            }
            b'#' => return None,
            b'-' if b.get(i + 1) == Some(&b'-') => return None,
            b'/' if b.get(i + 1) == Some(&b'*') => return None,
            c if c.is_ascii_whitespace() => {
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                shape.push(b' ');
            }
            c if c.is_ascii_digit() && (i == 0 || (!ident(b[i - 1]) && b[i - 1] != b'.')) => {
                let start = i;
                if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'b' | b'B')) {
                    return None;
                }
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && matches!(b[i], b'e' | b'E') {
                    i += 1;
                    if i < b.len() && matches!(b[i], b'+' | b'-') {
                        i += 1;
                    }
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if i < b.len() && ident(b[i]) {
                    // `1abc` is an identifier in MySQL.
                    return None;
                }
                lits.push(Lit { text: String::from_utf8(b[start..i].to_vec()).ok()?, string: false });
                shape.push(b'?');
            }
            _ => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                if i == start {
                    i += 1;
                }
                shape.extend_from_slice(&b[start..i]);
            }
        }
    }
    Some((String::from_utf8(shape).ok()?, lits))
}

/// The value a literal stands for, as the planner reads it.
fn value(l: &Lit) -> Option<Value> {
    if !l.string {
        return l.text.parse::<i64>().map(Value::Int).or_else(|_| l.text.parse::<u64>().map(Value::UInt)).ok();
    }
    let q = l.text.as_bytes()[0];
    let inner = &l.text.as_bytes()[1..l.text.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'\\' if i + 1 < inner.len() => {
                out.push(match inner[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'0' => 0,
                    b'Z' => 0x1a,
                    other => other,
                });
                i += 2;
            }
            c if c == q && inner.get(i + 1) == Some(&q) => {
                out.push(q);
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(Value::Bytes(out))
}

/// How a template finds its shards.
#[derive(Debug)]
enum Recipe {
    /// The same shards whatever the literals (unsharded, scatter, explicit shard, no table).
    Fixed(Vec<String>),
    /// Pinned by these literals under the table's vindex.
    Vindex { vindex: String, literals: Vec<usize> },
}

/// A routed SELECT for every statement of one shape.
#[derive(Debug)]
pub struct Template {
    keyspace: String,
    tablet_type: TabletType,
    /// The planner's SQL split at its literals.
    pieces: Vec<String>,
    recipe: Recipe,
    /// Whether the statement's rows from several shards may simply be concatenated. Learned from
    /// a plan over one shard, it may not (`COUNT(*)`, `ORDER BY ... LIMIT`, `DISTINCT` of an IN
    /// list whose values sat on one shard): new literals that reach several shards are planned
    /// afresh.
    concatenates: bool,
}

impl Template {
    /// Learns a template from a plan of `sql` (whose literals are `lits`), when that is safe.
    pub fn learn(sql: &str, lits: &[Lit], plan: &Plan, target: &Target, view: &RoutingView) -> Option<Template> {
        let Plan::Route { keyspace, shards, sql: planned, tablet_type } = plan else { return None };
        // Where information_schema queries go depends on their literals (`table_schema = 'ks'`).
        if super::route::contains_ignore_case(sql, "information_schema") {
            return None;
        }
        // The planner's rendering must hold the same literals in the same order.
        let (_, planned_lits) = normalise(planned)?;
        if planned_lits != lits {
            return None;
        }
        let pieces = split(planned)?;
        let recipe = recipe(sql, lits, keyspace, target, view)?;
        let concatenates = shards.len() > 1;
        let t = Template { keyspace: keyspace.clone(), tablet_type: *tablet_type, pieces, recipe, concatenates };
        // It must reproduce the plan it learned from.
        match t.instantiate(lits, view) {
            Some(Plan::Route { shards: s2, sql: q2, .. }) if s2 == *shards && q2 == *planned => Some(t),
            _ => None,
        }
    }

    /// Whether the plan it makes may spread over several shards.
    pub fn concatenates(&self) -> bool {
        self.concatenates
    }

    /// The plan for a statement of this shape with `lits`.
    pub fn instantiate(&self, lits: &[Lit], view: &RoutingView) -> Option<Plan> {
        if lits.len() + 1 != self.pieces.len() {
            return None;
        }
        let mut sql = String::with_capacity(self.pieces.iter().map(String::len).sum::<usize>() + lits.len() * 8);
        for (i, p) in self.pieces.iter().enumerate() {
            sql.push_str(p);
            if let Some(l) = lits.get(i) {
                sql.push_str(&l.text);
            }
        }
        let shards = match &self.recipe {
            Recipe::Fixed(s) => s.clone(),
            Recipe::Vindex { vindex, literals } => {
                let ks = view.keyspace(&self.keyspace)?;
                let mut set = Vec::new();
                for &i in literals {
                    let ksid = view.keyspace_id(&self.keyspace, vindex, &value(lits.get(i)?)?).ok()?;
                    let s = view.shard_for(ks, &ksid, self.tablet_type)?;
                    if !set.contains(&s) {
                        set.push(s);
                    }
                }
                view.serving_shards(ks, self.tablet_type).into_iter().filter(|s| set.contains(s)).collect()
            }
        };
        if shards.len() > 1 && !self.concatenates {
            return None;
        }
        Some(Plan::Route { keyspace: self.keyspace.clone(), shards, sql, tablet_type: self.tablet_type })
    }
}

/// `sql` cut at its literals (the literals themselves dropped).
fn split(sql: &str) -> Option<Vec<String>> {
    let (shape, _) = normalise(sql)?;
    // Re-cut the original text: walk it with the same tokenizer positions.
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut it = shape.as_bytes().iter().peekable();
    while let Some(&c) = it.next() {
        if c == b'?' {
            if it.peek() == Some(&&b'\'') {
                it.next();
            }
            pieces.push(std::mem::take(&mut cur));
        } else {
            cur.push(c as char);
        }
    }
    pieces.push(cur);
    // The rendering has single spaces already; the shape equals it but for literals.
    Some(pieces)
}

fn recipe(sql: &str, lits: &[Lit], keyspace: &str, target: &Target, view: &RoutingView) -> Option<Recipe> {
    let mut stmts = crate::sql::parse::parse(sql).ok()?;
    let Some(Statement::Query(q)) = stmts.pop() else { return None };
    let fixed = || {
        let ks = view.keyspace(keyspace)?;
        Some(Recipe::Fixed(match (&target.shard, target.keyspace.as_deref() == Some(keyspace)) {
            (Some(s), true) => vec![s.clone()],
            _ => view.serving_shards(ks, target.tablet_type),
        }))
    };
    let SetExpr::Select(sel) = q.body.as_ref() else { return None };
    let mut sub = false;
    let _ = visit_expressions(&q, |e: &Expr| {
        sub |= matches!(e, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. });
        ControlFlow::<()>::Continue(())
    });
    if sub {
        return None;
    }
    match sel.from.as_slice() {
        [] => {
            // No table: one shard of some keyspace, the same every time.
            let ks = view.keyspace(keyspace)?;
            Some(Recipe::Fixed(view.serving_shards(ks, TabletType::Primary).into_iter().take(1).collect()))
        }
        [t] if t.joins.is_empty() => {
            let TableFactor::Table { name, alias, .. } = &t.relation else { return None };
            let tab = crate::planner::resolve_table(name, alias.as_ref(), target, view).ok()?;
            if tab.keyspace != keyspace {
                return None;
            }
            if !tab.sharded || (target.shard.is_some() && target.keyspace.as_deref() == Some(keyspace)) {
                return fixed();
            }
            let (col, vindex) = tab.vindex?;
            let Some(values) = sel.selection.as_ref().and_then(|w| vindex_values(w, &col)) else {
                return fixed();
            };
            let mut literals = Vec::new();
            for v in values {
                let mut found = lits.iter().enumerate().filter(|(_, l)| value(l).as_ref() == Some(&v));
                let (i, _) = found.next()?;
                if found.next().is_some() {
                    return None;
                }
                literals.push(i);
            }
            Some(Recipe::Vindex { vindex, literals })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let (s, l) =
            normalise("SELECT c FROM sbtest1 WHERE id=4711 and k in (1, 2.5e3) and c = 'a''b\\'c'  ;").unwrap();
        assert_eq!(s, "SELECT c FROM sbtest1 WHERE id=? and k in (?, ?) and c = ?'");
        assert_eq!(l.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["4711", "1", "2.5e3", "'a''b\\'c'"]);
        assert_eq!(value(&l[3]), Some(Value::Bytes(b"a'b'c".to_vec())));
        assert_eq!(normalise("select t1.c2, `a 1` from t1").unwrap().1, vec![]);
        assert!(normalise("select 1 -- x").is_none());
        assert!(normalise("select x'41'").is_none());
        assert!(normalise("select 0x41").is_none());
        assert!(normalise("select _utf8mb4'a'").is_none());
        assert!(normalise("select 'unterminated").is_none());
    }

    #[test]
    fn templates_route_new_literals_like_the_planner() {
        let view = crate::routing::example_view();
        let t = Target::parse("customer").unwrap();
        let learn = |sql: &str| {
            let (_, lits) = normalise(sql).unwrap();
            let p = crate::planner::plan(sql, &t, &view).unwrap();
            Template::learn(sql, &lits, &p, &t, &view)
        };
        let tpl = learn("select * from customer where customer_id = 1").expect("a template");
        for id in [2u64, 77, 1 << 40, 123456789] {
            let sql = format!("select * from customer where customer_id = {id}");
            let (_, lits) = normalise(&sql).unwrap();
            let got = tpl.instantiate(&lits, &view).unwrap();
            let want = crate::planner::plan(&sql, &t, &view).unwrap();
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{sql}");
        }
        // 1 is on -80, 4 on 80-: learned over both shards, so any values fit.
        let tpl = learn("select email from customer where customer_id in (1, 2, 4) and email = 'x'").expect("in list");
        assert!(tpl.concatenates);
        let sql = "select email from customer where customer_id in (9, 10, 11) and email = 'y'";
        let (_, lits) = normalise(sql).unwrap();
        let want = crate::planner::plan(sql, &t, &view).unwrap();
        assert_eq!(format!("{:?}", tpl.instantiate(&lits, &view).unwrap()), format!("{want:?}"));
        // An IN list learned on one shard is not reused for values on several: the shards'
        // answers would need merging.
        let one =
            |ids: [u64; 2]| format!("select count(*) from customer where customer_id in ({}, {})", ids[0], ids[1]);
        let shard_of = |id: u64| match crate::planner::plan(
            &format!("select * from customer where customer_id = {id}"),
            &t,
            &view,
        ) {
            Ok(Plan::Route { shards, .. }) => shards,
            other => panic!("{other:?}"),
        };
        let a = 1u64;
        let same = (2..100).find(|&i| shard_of(i) == shard_of(a)).unwrap();
        let other = (2..100).find(|&i| shard_of(i) != shard_of(a)).unwrap();
        let tpl = learn(&one([a, same])).expect("one-shard IN list");
        let (_, lits) = normalise(&one([a, other])).unwrap();
        assert!(tpl.instantiate(&lits, &view).is_none(), "two shards from a one-shard template");
        let (_, lits) = normalise(&one([same, a])).unwrap();
        assert!(tpl.instantiate(&lits, &view).is_some());
        // Scatter, unsharded, no table: fixed shards.
        assert!(learn("select * from customer where email = 'x'").is_none_or(|t| matches!(t.recipe, Recipe::Fixed(_))));
        assert!(learn("select * from commerce.product where sku = 'a'").is_some());
        assert!(learn("select table_name from information_schema.tables where table_schema = 'customer'").is_none());
        // Merges and subqueries are not templated.
        assert!(learn("select count(*) from customer").is_none());
        assert!(learn("select * from customer where customer_id in (select customer_id from corder)").is_none());
    }
}
