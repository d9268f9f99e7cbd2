//! Reference tables: a table copied to every shard of a sharded keyspace (from a `source` in
//! an unsharded keyspace, or on its own). Reads go to one copy; writes reach the source and
//! every copy in one transaction (`Plan::Fanout`).

use std::collections::BTreeSet;

use super::route::no_shards;
use crate::plan::{GatewayError, Plan, Target};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::topo::state::Keyspace;

/// A statement over one reference table: a read goes to any one copy; a write to the source
/// (when the VSchema names one) and every copy.
pub(super) fn plan(
    view: &RoutingView,
    ks: &Keyspace,
    table: &str,
    source: &str,
    target: &Target,
    sql: String,
    read: bool,
) -> Result<Plan, GatewayError> {
    let copies = view.serving_shards(ks, if read { target.tablet_type } else { TabletType::Primary });
    if read {
        let shard = copies.into_iter().next().ok_or_else(|| no_shards(&ks.name))?;
        return Ok(Plan::Route {
            keyspace: ks.name.clone(),
            shards: vec![shard],
            sql,
            tablet_type: target.tablet_type,
        });
    }
    let mut targets = Vec::new();
    if !source.is_empty() {
        let (sks, stable) = source.split_once('.').ok_or_else(|| GatewayError::Routing {
            keyspace: ks.name.clone(),
            message: format!("reference table `{table}` has source `{source}`; write it as `keyspace.table`"),
        })?;
        if !stable.eq_ignore_ascii_case(table) {
            return Err(GatewayError::Unsupported(format!(
                "writing reference table `{table}` whose source `{source}` has another name; write to `{source}` and to the copies apart"
            )));
        }
        let sk = view.keyspace(sks).ok_or_else(|| GatewayError::UnknownKeyspace(sks.to_string()))?;
        let shard = view.serving_shards(sk, TabletType::Primary).into_iter().next().ok_or_else(|| no_shards(sks))?;
        targets.push((sks.to_string(), shard));
    }
    targets.extend(copies.into_iter().map(|s| (ks.name.clone(), s)));
    Ok(Plan::Fanout { sql, targets })
}

/// A write in unsharded keyspace `ks_name` to the source of reference tables: it reaches the
/// copies too. `None` when no table it writes is copied.
pub(super) fn source_write(
    view: &RoutingView,
    ks_name: &str,
    tables: &[String],
    sent: impl Fn() -> String,
) -> Result<Option<Plan>, GatewayError> {
    let distinct: BTreeSet<&String> = tables.iter().collect();
    let copied: Vec<&&String> = distinct.iter().filter(|t| !view.copies_of(ks_name, t).is_empty()).collect();
    match (copied.as_slice(), distinct.len()) {
        ([], _) => {}
        ([t], 1) => {
            let mut targets = Vec::new();
            for k in std::iter::once(ks_name.to_string()).chain(view.copies_of(ks_name, t)) {
                let kk = view.keyspace(&k).ok_or_else(|| GatewayError::UnknownKeyspace(k.clone()))?;
                let shards = view.serving_shards(kk, TabletType::Primary);
                if k == ks_name && shards.len() != 1 {
                    return Err(no_shards(&k));
                }
                targets.extend(shards.into_iter().map(|s| (k.clone(), s)));
            }
            return Ok(Some(Plan::Fanout { sql: sent(), targets }));
        }
        (t, _) => {
            return Err(GatewayError::Unsupported(format!(
                "a write over `{}` (copied to reference tables) together with other tables; write it alone",
                t[0]
            )))
        }
    }
    Ok(None)
}
