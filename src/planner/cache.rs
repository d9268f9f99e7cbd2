//! The plan cache, per session target and valid for one topology sequence (a change of
//! topology or VSchema empties it):
//! - routed SELECTs by normalised text (literals out, [`super::shape`]): one plan serves
//!   every statement of the same shape, its shards recomputed from the new literals;
//! - other reads (merges, joins, unions...) by their text with whitespace collapsed, since their
//!   plans depend on the literals in more ways.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[cfg(test)]
use super::route::plan;
use super::route::plan_keyword;
use super::shape::{normalise, Template};
use crate::plan::{GatewayError, Plan, Target};
use crate::routing::RoutingView;

pub struct PlanCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Topology sequence of the routing view the plans were made with.
    view: u64,
    plans: HashMap<String, Arc<Plan>>,
    shapes: HashMap<String, Arc<Template>>,
    hits: u64,
    misses: u64,
}

fn target_key(target: &Target) -> String {
    format!(
        "{}/{}@{}",
        target.keyspace.as_deref().unwrap_or(""),
        target.shard.as_deref().unwrap_or(""),
        target.tablet_type
    )
}

/// The cache key: the target, then the text with runs of whitespace outside quotes collapsed.
fn key(sql: &str, target: &Target) -> String {
    let mut out = String::with_capacity(sql.len() + 24);
    out.push_str(&target_key(target));
    out.push('|');
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in sql.trim().trim_end_matches(';').trim_end().chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => space = true,
            None => {
                if space {
                    out.push(' ');
                    space = false;
                }
                if matches!(c, '\'' | '"' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// Statements whose plans are kept (reads; writes carry values planned into them).
fn cacheable(kw: crate::sql::Keyword) -> bool {
    kw == "SELECT"
}

impl PlanCache {
    pub fn new(capacity: usize) -> Self {
        PlanCache { capacity, inner: Mutex::new(Inner::default()) }
    }

    /// The plan of `sql`, from the cache when it is there.
    pub fn plan(&self, sql: &str, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
        let kw = crate::sql::first_keyword(sql);
        if self.capacity == 0 || !cacheable(kw) {
            return plan_keyword(sql, kw, target, view);
        }
        let view_id = view.topo.seq;
        let norm = normalise(sql);
        let shape_key = norm.as_ref().map(|(shape, _)| format!("{}|{shape}", target_key(target)));
        let mut k = None;
        let (template, exact) = match self.inner.lock() {
            Ok(mut inner) => {
                if inner.view != view_id {
                    inner.plans.clear();
                    inner.shapes.clear();
                    inner.view = view_id;
                }
                let t = shape_key.as_ref().and_then(|s| inner.shapes.get(s).cloned());
                // Only statements without a template are looked up (and keyed) by their text.
                let e = if t.is_none() { inner.plans.get(k.insert(key(sql, target))).cloned() } else { None };
                if t.is_some() || e.is_some() {
                    inner.hits += 1;
                } else {
                    inner.misses += 1;
                }
                (t, e)
            }
            Err(_) => (None, None),
        };
        if let (Some(t), Some((_, lits))) = (&template, &norm) {
            if let Some(p) = t.instantiate(lits, view) {
                return Ok(p);
            }
        }
        // A template that does not fit these literals: the plan for this very text, if kept.
        let exact = match (exact, &template) {
            (None, Some(_)) => self.inner.lock().ok().and_then(|i| i.plans.get(k.insert(key(sql, target))).cloned()),
            (e, _) => e,
        };
        if let Some(p) = exact {
            return Ok((*p).clone());
        }
        let p = plan_keyword(sql, kw, target, view)?;
        let learned = norm.as_ref().and_then(|(_, lits)| Template::learn(sql, lits, &p, target, view));
        if let Ok(mut inner) = self.inner.lock() {
            if inner.view == view_id {
                if inner.plans.len() + inner.shapes.len() >= self.capacity {
                    // Simple and bounded: start over when full.
                    inner.plans.clear();
                    inner.shapes.clear();
                }
                match (learned, shape_key) {
                    // A template learned over several shards serves one shard too, not the reverse.
                    (Some(t), Some(sk))
                        if inner.shapes.get(&sk).is_none_or(|old| t.concatenates() >= old.concatenates()) =>
                    {
                        inner.shapes.insert(sk, Arc::new(t));
                    }
                    _ => {
                        inner.plans.insert(k.unwrap_or_else(|| key(sql, target)), Arc::new(p.clone()));
                    }
                }
            }
        }
        Ok(p)
    }

    /// (hits, misses, plans held).
    pub fn stats(&self) -> (u64, u64, usize) {
        self.inner.lock().map(|i| (i.hits, i.misses, i.plans.len() + i.shapes.len())).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_collapse_whitespace_but_not_literals() {
        let t = Target::parse("customer").unwrap();
        assert_eq!(key("select  *\n from t where a = 'x  y' ;", &t), key("select * from t where a = 'x  y'", &t));
        assert_ne!(key("select * from t where a = 'x  y'", &t), key("select * from t where a = 'x y'", &t));
        assert_ne!(key("select 1", &t), key("select 1", &Target::parse("commerce").unwrap()));
    }

    #[test]
    fn hits_and_invalidation() {
        let view = crate::routing::example_view();
        let t = Target::parse("customer").unwrap();
        let c = PlanCache::new(8);
        let a = c.plan("select * from customer where customer_id = 1", &t, &view).unwrap();
        let b = c.plan("select *  from customer where customer_id = 2", &t, &view).unwrap();
        assert_eq!(
            format!("{b:?}"),
            format!("{:?}", plan("select * from customer where customer_id = 2", &t, &view).unwrap())
        );
        assert_eq!(c.stats().0, 1, "one shape, one hit");
        let _ = c.plan("select count(*) from customer", &t, &view).unwrap();
        let _ = c.plan("select count(*)  from customer", &t, &view).unwrap();
        assert_eq!(c.stats(), (2, 2, 2));
        // Another topology: planned again.
        let mut topo = (*view.topo).clone();
        topo.seq += 1;
        let view2 = RoutingView::build(Arc::new(topo));
        let _ = c.plan("select * from customer where customer_id = 1", &t, &view2).unwrap();
        assert_eq!(c.stats().1, 3);
        let _ = a;
        // Errors are not cached, and writes are never cached.
        assert!(c.plan("select * from nope_table", &t, &view2).is_err());
        let _ = c.plan("insert into customer (customer_id) values (1)", &t, &view2).unwrap();
        assert_eq!(c.stats().2, 1, "only the select's shape");
    }
}
