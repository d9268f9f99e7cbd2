//! The gateway's routing view: topology plus built vindexes, rebuilt when the topology moves.

mod lookup;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::plan::GatewayError;
use crate::protocol::topology::TabletType;
use crate::topo::state::{Keyspace, Topology};
use crate::topo::view::TopoView;
use crate::vindex::multi::Dest;
use crate::vindex::{build_all, Configured, Value};

/// Everything routing needs, consistent as of one topology sequence.
pub struct RoutingView {
    pub topo: Arc<Topology>,
    pub vindexes: HashMap<String, BTreeMap<String, Configured>>,
}

impl RoutingView {
    pub fn build(topo: Arc<Topology>) -> Self {
        let vindexes = topo
            .keyspaces
            .values()
            .filter_map(|ks| Some((ks.name.clone(), ks.vschema.as_ref().and_then(|v| build_all(v).ok())?)))
            .collect();
        RoutingView { topo, vindexes }
    }

    pub fn keyspace(&self, name: &str) -> Option<&Keyspace> {
        self.topo.keyspaces.get(name)
    }

    /// Shards that serve `tablet_type` reads/writes, in key-range order.
    pub fn serving_shards(&self, ks: &Keyspace, tablet_type: TabletType) -> Vec<String> {
        let serving = ks.serving.get(&tablet_type).or_else(|| ks.serving.get(&TabletType::Primary));
        match serving {
            Some(list) if !list.is_empty() => list.clone(),
            _ => ks.shard_names(),
        }
    }

    /// The keyspace id of a value under a keyspace's (functional) vindex.
    pub fn keyspace_id(&self, ks: &str, vindex: &str, v: &Value) -> Result<Vec<u8>, GatewayError> {
        self.keyspace_id_of(ks, vindex, std::slice::from_ref(v))
    }

    /// The keyspace id of a row whose vindex columns hold `values` (one for most vindexes).
    pub fn keyspace_id_of(&self, ks: &str, vindex: &str, values: &[Value]) -> Result<Vec<u8>, GatewayError> {
        match self.destination(ks, vindex, values)? {
            Dest::KeyspaceId(k) => Ok(k),
            Dest::Prefix(_) => Err(GatewayError::Routing {
                keyspace: ks.into(),
                message: format!("vindex `{vindex}` needs a value for each of its columns"),
            }),
        }
    }

    /// Where the first `values.len()` columns of a vindex put a row: a keyspace id, or (a
    /// prefix of a multi-column vindex's columns) a key-range prefix.
    pub fn destination(&self, ks: &str, vindex: &str, values: &[Value]) -> Result<Dest, GatewayError> {
        let routing =
            |e: crate::vindex::VindexError| GatewayError::Routing { keyspace: ks.into(), message: e.to_string() };
        match (self.vindexes.get(ks).and_then(|m| m.get(vindex)), values) {
            (Some(Configured::Functional(f)), [v]) => f.map(v).map(Dest::KeyspaceId).map_err(routing),
            (Some(Configured::Multi(m)), _) => m.map(values).map_err(routing),
            _ => Err(GatewayError::Unsupported(format!("vindex `{vindex}` is not a functional vindex"))),
        }
    }

    /// The serving shards a destination meets, in key-range order.
    pub fn dest_shards(&self, ks: &Keyspace, d: &Dest, tablet_type: TabletType) -> Vec<String> {
        match d {
            Dest::KeyspaceId(k) => self.shard_for(ks, k, tablet_type).into_iter().collect(),
            Dest::Prefix(p) => {
                let range = crate::vindex::keyrange::KeyRange::from_prefix(p);
                self.serving_shards(ks, tablet_type)
                    .into_iter()
                    .filter(|s| ks.shards.get(s).is_some_and(|sh| sh.key_range.intersects(&range)))
                    .collect()
            }
        }
    }

    /// Shards that hold the rows whose vindex column takes one of `values` (all of them when
    /// a value does not map: MySQL may still compare it equal after a conversion).
    pub fn route_values(
        &self,
        keyspace: &str,
        vindex: &str,
        values: &[crate::plan::value::Val],
        tablet_type: TabletType,
    ) -> Result<Vec<String>, GatewayError> {
        use crate::plan::value::Val;
        let ks = self.keyspace(keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(keyspace.into()))?;
        let all = self.serving_shards(ks, tablet_type);
        let mut shards = std::collections::BTreeSet::new();
        for v in values {
            let value = match v {
                Val::Int(i) => i64::try_from(*i).map(Value::Int).or_else(|_| u64::try_from(*i).map(Value::UInt)).ok(),
                Val::Str(b, _) => Some(Value::Bytes(b.clone())),
                other => other.to_cell().map(Value::Bytes),
            };
            let Some(value) = value else { continue };
            match self.keyspace_id(keyspace, vindex, &value) {
                Ok(ksid) => {
                    if let Some(s) = self.shard_for(ks, &ksid, tablet_type) {
                        shards.insert(s);
                    }
                }
                Err(_) => return Ok(all),
            }
        }
        Ok(all.into_iter().filter(|s| shards.contains(s)).collect())
    }

    /// The serving shard that holds `keyspace_id`.
    pub fn shard_for(&self, ks: &Keyspace, keyspace_id: &[u8], tablet_type: TabletType) -> Option<String> {
        self.serving_shards(ks, tablet_type)
            .into_iter()
            .find(|s| ks.shards.get(s).is_some_and(|sh| sh.key_range.contains(keyspace_id)))
    }

    /// The keyspace a routing rule sends `from` (`table` or `keyspace.table`) to, for
    /// `tablet_type` (falling back to the primary rule, as Vitess does).
    fn rule(&self, from: &str, tablet_type: TabletType) -> Option<&str> {
        let rules = self.topo.routing_rules.iter().map(|r| (r.from.as_str(), r.tablet_type, r.to_keyspace.as_str()));
        pick_rule(rules, from, tablet_type)
    }

    /// The keyspace a keyspace routing rule sends keyspace `from`'s tables to, for
    /// `tablet_type` (falling back to the primary rule).
    pub fn keyspace_rule(&self, from: &str, tablet_type: TabletType) -> Option<&str> {
        let rules = self
            .topo
            .keyspace_routing_rules
            .iter()
            .map(|r| (r.from_keyspace.as_str(), r.tablet_type, r.to_keyspace.as_str()));
        pick_rule(rules, from, tablet_type)
    }

    /// Resolves a table reference to its keyspace: a routing rule for `keyspace.table` (or the
    /// bare `table` when neither the statement nor the session names a keyspace) wins; then
    /// the qualifier or session keyspace, or where a keyspace routing rule sends it; then the
    /// only keyspace whose VSchema has the table.
    pub fn table_keyspace(
        &self,
        qualifier: Option<&str>,
        session: Option<&str>,
        table: &str,
        tablet_type: TabletType,
    ) -> Result<String, Vec<String>> {
        if let Some(ks) = qualifier.or(session) {
            if let Some(to) = self.rule(&format!("{ks}.{table}"), tablet_type) {
                return Ok(to.to_string());
            }
            return Ok(self.keyspace_rule(ks, tablet_type).unwrap_or(ks).to_string());
        }
        if let Some(ks) = self.rule(table, tablet_type) {
            return Ok(ks.to_string());
        }
        // Global routing: keyspaces that require explicit routing are left out.
        let many: Vec<String> = self
            .keyspaces_with_table(table)
            .into_iter()
            .filter(|k| !self.keyspace(k).and_then(|k| k.vschema.as_ref()).is_some_and(|v| v.require_explicit_routing))
            .collect();
        if let [only] = many.as_slice() {
            return Ok(only.clone());
        }
        // Reference tables copied from a source: an unqualified name means the source.
        let owners: Vec<&String> = many.iter().filter(|ks| self.reference(ks, table).is_none()).collect();
        if let [source] = owners.as_slice() {
            let copies_of_it = many.iter().filter(|ks| ks != source).all(|ks| {
                self.reference(ks, table).and_then(|src| src.split_once('.')).is_some_and(|(k, _)| k == source.as_str())
            });
            if copies_of_it {
                return Ok((*source).clone());
            }
        }
        Err(many)
    }

    /// Keyspaces whose VSchema has `table`.
    pub fn keyspaces_with_table(&self, table: &str) -> Vec<String> {
        self.topo
            .keyspaces
            .values()
            .filter(|k| k.vschema.as_ref().is_some_and(|v| v.tables.contains_key(table)))
            .map(|k| k.name.clone())
            .collect()
    }

    /// Whether `table` of sharded keyspace `ks` is a reference table (a copy on every shard),
    /// and its source (`keyspace.table`, possibly empty) if it is.
    pub fn reference(&self, ks: &str, table: &str) -> Option<&str> {
        let vs = self.keyspace(ks)?.vschema.as_ref().filter(|v| v.sharded)?;
        vs.tables.get(table).filter(|t| t.table_type == "reference").map(|t| t.source.as_str())
    }

    /// Sharded keyspaces holding a reference copy of `ks.table`.
    pub fn copies_of(&self, ks: &str, table: &str) -> Vec<String> {
        let source = format!("{ks}.{table}");
        self.topo
            .keyspaces
            .values()
            .filter(|k| self.reference(&k.name, table).is_some_and(|s| s.eq_ignore_ascii_case(&source)))
            .map(|k| k.name.clone())
            .collect()
    }

    /// The keyspace holding sequence table `table` (optionally named).
    pub fn sequence_keyspace(&self, keyspace: Option<&str>, table: &str) -> Option<String> {
        self.topo
            .keyspaces
            .values()
            .filter(|k| keyspace.is_none_or(|n| n == k.name))
            .find(|k| k.vschema.as_ref().and_then(|v| v.tables.get(table)).is_some_and(|t| t.table_type == "sequence"))
            .map(|k| k.name.clone())
    }
}

/// Hands out the current [`RoutingView`], rebuilding it only when the topology changed.
#[derive(Clone)]
pub struct Router {
    topo: TopoView,
    cached: Arc<Mutex<Option<Arc<RoutingView>>>>,
}

impl Router {
    pub fn new(topo: TopoView) -> Self {
        Router { topo, cached: Arc::new(Mutex::new(None)) }
    }

    pub fn current(&self) -> Arc<RoutingView> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cached.as_ref() {
            if v.topo.seq == self.topo.seq() {
                return v.clone();
            }
        }
        let v = Arc::new(RoutingView::build(self.topo.snapshot()));
        *cached = Some(v.clone());
        v
    }
}

/// The target of the rule `(from, tablet type, to)` for `from` and `tablet_type`, else of its
/// primary rule (Vitess's fallback).
fn pick_rule<'a>(
    rules: impl Iterator<Item = (&'a str, TabletType, &'a str)> + Clone,
    from: &str,
    tablet_type: TabletType,
) -> Option<&'a str> {
    let find = |tt: TabletType| rules.clone().find(|(f, t, _)| *f == from && *t == tt).map(|(_, _, to)| to);
    find(tablet_type).or_else(|| find(TabletType::Primary))
}

/// The example cluster's routing view (commerce/0; customer/-80, 80- with the example
/// VSchemas), for tests and benchmarks.
pub fn example_view() -> RoutingView {
    view_of(&[
        ("commerce", &["0"], include_str!("../../examples/commerce/vschema_commerce.json")),
        ("customer", &["-80", "80-"], include_str!("../../examples/commerce/vschema_customer.json")),
    ])
}

/// A routing view of keyspaces (name, shards, VSchema JSON) folded from topology events, for
/// planner tests and benches.
pub fn view_of(keyspaces: &[(&str, &[&str], &str)]) -> RoutingView {
    use crate::protocol::admin::AdminRequest;
    use crate::protocol::topology::TopoCommit;
    use crate::topo::{commands, state::project_commit};
    let mut t = Topology::default();
    let mut reqs = Vec::new();
    for (name, shards, vschema) in keyspaces {
        reqs.push(AdminRequest::CreateKeyspace { name: name.to_string(), durability_policy: String::new() });
        for s in *shards {
            reqs.push(AdminRequest::CreateShard {
                keyspace: name.to_string(),
                shard: s.to_string(),
                force: false,
                allow_overlap: false,
            });
        }
        reqs.push(AdminRequest::ApplyVSchema {
            keyspace: name.to_string(),
            vschema: vschema.to_string(),
            dry_run: false,
        });
    }
    for (i, r) in reqs.iter().enumerate() {
        let events = commands::plan(r, &t).expect("the example topology plans");
        project_commit(&mut t, i as u64 + 1, &TopoCommit { command: r.name().into(), events });
    }
    RoutingView::build(Arc::new(t))
}
