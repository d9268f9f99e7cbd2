//! Lookup vindexes resolved to where their tables are (what the planner plans with and the
//! engine reads and writes through).

use super::RoutingView;
use crate::plan::{GatewayError, LookupDef, LookupPlace};
use crate::protocol::topology::TabletType;
use crate::topo::state::Keyspace;
use crate::vindex::Configured;

impl RoutingView {
    /// The lookup vindex `name` of keyspace `ks`, resolved to its table's keyspace and shard
    /// (or the vindex that spreads it), with its owner table; `None` when `name` is not a lookup.
    pub fn lookup_def(&self, ks: &Keyspace, name: &str) -> Result<Option<(LookupDef, String)>, GatewayError> {
        let view = self;
        let Some(Configured::Lookup { table, from, to, owner, hashed, .. }) =
            view.vindexes.get(&ks.name).and_then(|m| m.get(name))
        else {
            return Ok(None);
        };
        let Some(first) = from.first() else {
            return Err(GatewayError::Routing {
                keyspace: ks.name.clone(),
                message: format!("lookup vindex `{name}` has no `from` column"),
            });
        };
        let (lks, ltable) = match table.split_once('.') {
            Some((k, t)) => (k.to_string(), t.to_string()),
            None => match view.keyspaces_with_table(table).as_slice() {
                [only] => (only.clone(), table.clone()),
                _ => (ks.name.clone(), table.clone()),
            },
        };
        let lk = view.keyspace(&lks).ok_or_else(|| GatewayError::UnknownKeyspace(lks.clone()))?;
        let place = match lk.vschema.as_ref().filter(|v| v.sharded) {
            Some(v) => LookupPlace::Vindex(sharded_place(v, name, &lks, &ltable, first)?),
            None => LookupPlace::Shard(view.serving_shards(lk, TabletType::Primary).into_iter().next().ok_or_else(
                || GatewayError::Routing {
                    keyspace: lks.clone(),
                    message: "has no serving shard for lookup tables".into(),
                },
            )?),
        };
        Ok(Some((
            LookupDef {
                name: name.into(),
                keyspace: lks,
                place,
                table: ltable,
                from: from.clone(),
                to: to.clone(),
                hashed: *hashed,
            },
            owner.clone(),
        )))
    }
}

/// The vindex that spreads lookup table `table` of sharded keyspace `lks` by the lookup's
/// (first) `from` column: the table's primary vindex, which must be on that one column (else a value's
/// mappings could be on any shard and an insert would not know where to put them).
fn sharded_place(
    v: &crate::vschema::KeyspaceVSchema,
    name: &str,
    lks: &str,
    table: &str,
    from: &str,
) -> Result<String, GatewayError> {
    let primary = v.tables.get(table).and_then(|t| t.column_vindexes.first()).ok_or_else(|| {
        GatewayError::Unsupported(format!(
            "lookup vindex `{name}` keeps its table in sharded keyspace `{lks}`, whose VSchema gives table `{table}` no primary vindex; give it one on `{from}`"
        ))
    })?;
    match primary.column_list().as_slice() {
        [c] if c.eq_ignore_ascii_case(from) => Ok(primary.name.clone()),
        _ => Err(GatewayError::Unsupported(format!(
            "lookup vindex `{name}` keeps its table in sharded keyspace `{lks}`; table `{table}` must have its primary vindex on the lookup's `from` column `{from}`"
        ))),
    }
}
