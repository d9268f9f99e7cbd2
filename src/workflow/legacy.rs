//! The legacy horizontal-resharding commands, as thin commands over the Reshard workflow:
//!
//! ```text
//! CopySchemaShard customer/0 customer/-80      schema only (Reshard create also copies it)
//! SplitClone customer/0                        Reshard create of workflow split_0 (0 -> -80,80-)
//! SplitDiff customer/-80                       VDiff of that workflow
//! MigrateServedTypes customer/0 rdonly         SwitchTraffic --tablet-types rdonly
//! MigrateServedTypes customer/0 replica        ... replica
//! MigrateServedTypes customer/0 primary        ... primary (refused before rdonly and replica)
//! MigrateServedTypes customer/0 replica --reverse   ReverseTraffic of that type
//! ```

use mysql_async::prelude::Queryable;

use super::{err, precondition, WorkflowService};
use crate::actors::tablet::normalize_create;
use crate::protocol::admin::{AdminReply, AdminResponse, ErrorCode, RemoteError, ShardRef, WorkflowArgs};
use crate::protocol::topology::TabletType;
use crate::protocol::workflow::{WorkflowAction, WorkflowKind, WorkflowRecord};
use crate::topo::state::Topology;
use crate::vindex::keyrange::KeyRange;
use crate::vrepl::MysqlAddr;

/// The workflow `SplitClone ks/<shard>` creates.
pub fn split_workflow_name(source_shard: &str) -> String {
    format!("split_{}", source_shard.replace('-', "_"))
}

fn args(keyspace: &str, workflow: &str, action: WorkflowAction, tablet_types: Vec<TabletType>) -> WorkflowArgs {
    WorkflowArgs {
        keyspace: keyspace.to_string(),
        workflow: workflow.to_string(),
        action,
        options: None,
        tablet_types,
        timeout_ms: None,
    }
}

fn mysql_err(what: &str, e: impl std::fmt::Display) -> RemoteError {
    err(ErrorCode::Unavailable, format!("{what}: {e}"))
}

fn keyspace<'a>(topo: &'a Topology, name: &str) -> Result<&'a crate::topo::state::Keyspace, RemoteError> {
    topo.keyspaces.get(name).ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{name}` does not exist")))
}

/// The shards of `keyspace` inside `source`'s key range that do not serve primary traffic.
fn split_targets(topo: &Topology, keyspace_name: &str, source: &str) -> Result<Vec<String>, RemoteError> {
    let ks = keyspace(topo, keyspace_name)?;
    let src = ks
        .shards
        .get(source)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("shard `{keyspace_name}/{source}` does not exist")))?;
    let serving = ks.serving.get(&TabletType::Primary).cloned().unwrap_or_else(|| ks.shard_names());
    if !serving.iter().any(|s| s == source) {
        return Err(precondition(format!(
            "shard {keyspace_name}/{source} does not serve; SplitClone reads from a serving shard"
        )));
    }
    // Shards another workflow fills are not ours to take.
    let taken: Vec<&String> = ks.workflows.values().flat_map(|w| &w.target_shards).collect();
    let targets: Vec<String> = ks
        .shard_names()
        .into_iter()
        .filter(|s| s != source && !serving.contains(s) && !taken.contains(&s))
        .filter(|s| ks.shards.get(s).is_some_and(|r| within(&r.key_range, &src.key_range)))
        .collect();
    if targets.is_empty() {
        return Err(precondition(format!(
            "no target shards inside {keyspace_name}/{source}'s key range: create them first (CreateShard \
             {keyspace_name}/-80 --allow-overlap, CreateShard {keyspace_name}/80- --allow-overlap) and give each a \
             primary (InitShardPrimary)"
        )));
    }
    Ok(targets)
}

/// True when `inner` lies within `outer` (an empty end is the end of the key space).
fn within(inner: &KeyRange, outer: &KeyRange) -> bool {
    let end_le = |a: &[u8], b: &[u8]| b.is_empty() || (!a.is_empty() && a <= b);
    inner.start >= outer.start && end_le(&inner.end, &outer.end)
}

/// The Reshard workflow that reads from (or, with `target`, fills) a shard.
fn workflow_of(topo: &Topology, keyspace_name: &str, shard: &str, target: bool) -> Result<WorkflowRecord, RemoteError> {
    let ks = keyspace(topo, keyspace_name)?;
    let names_shard = |w: &WorkflowRecord| {
        let shards = if target { &w.target_shards } else { &w.source_shards };
        shards.iter().any(|s| s == shard)
    };
    let found: Vec<&WorkflowRecord> = ks
        .workflows
        .values()
        .filter(|w| w.kind == WorkflowKind::Reshard && w.reverse_of.is_none() && names_shard(w))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(precondition(format!(
            "no Reshard workflow {} shard {keyspace_name}/{shard} (SplitClone {keyspace_name}/<source shard> creates one)",
            if target { "fills" } else { "reads from" }
        ))),
        many => Err(precondition(format!(
            "several Reshard workflows name shard {keyspace_name}/{shard} ({}): use Reshard --workflow <name> ... instead",
            many.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

impl WorkflowService {
    pub async fn split_clone(&self, keyspace: &str, shard: &str) -> AdminReply {
        let topo = self.topo().await?;
        let targets = split_targets(&topo, keyspace, shard)?;
        let a = args(keyspace, &split_workflow_name(shard), WorkflowAction::Create, vec![]);
        super::create::reshard(self, &a, vec![shard.to_string()], targets).await
    }

    pub async fn split_diff(&self, keyspace: &str, shard: &str) -> AdminReply {
        let topo = self.topo().await?;
        let wf = workflow_of(&topo, keyspace, shard, true)?;
        super::vdiff::create(self, &args(keyspace, &wf.name, WorkflowAction::Create, vec![])).await
    }

    pub async fn migrate_served_types(
        &self,
        keyspace: &str,
        shard: &str,
        served: TabletType,
        reverse: bool,
    ) -> AdminReply {
        if !matches!(served, TabletType::Rdonly | TabletType::Replica | TabletType::Primary) {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("served type is rdonly, replica or master (primary); not {served}"),
            ));
        }
        let topo = self.topo().await?;
        let wf = workflow_of(&topo, keyspace, shard, false)?;
        if reverse {
            if served != TabletType::Primary && wf.writes_switched {
                return Err(precondition(format!(
                    "{} serves primary traffic from the new shards; reverse master first \
                     (MigrateServedTypes {keyspace}/{shard} master --reverse)",
                    wf.id()
                )));
            }
            let a = args(keyspace, &wf.name, WorkflowAction::ReverseTraffic, vec![served]);
            return super::switch::reverse_traffic(self, &a).await;
        }
        if served == TabletType::Primary {
            let missing: Vec<&str> = [TabletType::Rdonly, TabletType::Replica]
                .iter()
                .filter(|t| !wf.reads_switched.contains(t))
                .map(|t| t.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(precondition(format!(
                    "cannot migrate master away from {keyspace}/{shard} before {}: run MigrateServedTypes \
                     {keyspace}/{shard} {} first",
                    missing.join(" and "),
                    missing.join(", then ")
                )));
            }
        }
        super::switch::switch_traffic(self, &args(keyspace, &wf.name, WorkflowAction::SwitchTraffic, vec![served]))
            .await
    }

    /// `CopySchemaShard`: creates on `dest`'s primary the tables (and views) of `source` it
    /// lacks; refuses tables whose definitions differ.
    pub async fn copy_schema_shard(
        &self,
        source: &str,
        dest: &ShardRef,
        tables: &[String],
        exclude: &[String],
        include_views: bool,
    ) -> AdminReply {
        let topo = self.topo().await?;
        let (src_name, src) = match ShardRef::parse(source) {
            Ok(s) => self.primary(&topo, &s.keyspace, &s.shard)?,
            Err(_) => self.tablet_addr(&topo, source)?,
        };
        let (dst_name, dst) = self.primary(&topo, &dest.keyspace, &dest.shard)?;
        let mut from = src.connect().await.map_err(|e| mysql_err(&format!("connecting to {src_name}"), e))?;
        let mut to = dst.connect().await.map_err(|e| mysql_err(&format!("connecting to {dst_name}"), e))?;
        let listed: Vec<(String, String)> =
            from.query("SHOW FULL TABLES").await.map_err(|e| mysql_err(&format!("listing tables on {src_name}"), e))?;
        let existing: Vec<(String, String)> =
            to.query("SHOW FULL TABLES").await.map_err(|e| mysql_err(&format!("listing tables on {dst_name}"), e))?;
        let wanted =
            |name: &str| (tables.is_empty() || tables.iter().any(|t| t == name)) && !exclude.iter().any(|t| t == name);
        let mut steps = Vec::new();
        let mut differ = Vec::new();
        let mut to_create = Vec::new();
        // Everything is compared before anything is created, so a difference changes nothing.
        // Tables first, then views (which may read them).
        for want_views in [false, true] {
            for (name, kind) in &listed {
                let is_view = kind == "VIEW";
                if is_view != want_views || !wanted(name) || (is_view && !include_views) {
                    continue;
                }
                let what = if is_view { "VIEW" } else { "TABLE" };
                let show = format!("SHOW CREATE {what} {}", crate::sql::quote_ident(name));
                let ddl =
                    create_of(&mut from, &show).await.map_err(|e| mysql_err(&format!("{show} on {src_name}"), e))?;
                if existing.iter().any(|(n, _)| n == name) {
                    let theirs =
                        create_of(&mut to, &show).await.map_err(|e| mysql_err(&format!("{show} on {dst_name}"), e))?;
                    if normalize_create(&theirs) == normalize_create(&ddl) {
                        steps.push(format!("{dst_name}: {} {name} already identical", what.to_lowercase()));
                    } else {
                        differ.push(format!("{name}: {src_name} has\n{ddl}\n{dst_name} has\n{theirs}"));
                    }
                } else {
                    to_create.push((name.clone(), what, normalize_create(&ddl)));
                }
            }
        }
        if !differ.is_empty() {
            return Err(precondition(format!(
                "schemas differ; nothing was created on {dst_name}:\n{}",
                differ.join("\n")
            )));
        }
        for (name, what, ddl) in to_create {
            to.query_drop(ddl).await.map_err(|e| mysql_err(&format!("creating {name} on {dst_name}"), e))?;
            steps.push(format!("{dst_name}: created {} {name}", what.to_lowercase()));
        }
        if steps.is_empty() {
            steps.push(format!("{src_name} has no tables to copy"));
        }
        Ok(AdminResponse::Done { message: steps.join("\n"), seq: topo.seq })
    }

    /// A tablet's MySQL server, for reading its keyspace's database.
    fn tablet_addr(&self, topo: &Topology, alias: &str) -> Result<(String, MysqlAddr), RemoteError> {
        let alias = crate::protocol::names::normalize_tablet_alias(alias).map_err(|e| {
            err(ErrorCode::InvalidArgument, format!("`{alias}` is neither <keyspace>/<shard> nor a tablet alias: {e}"))
        })?;
        let t = topo
            .tablets
            .get(&alias)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("tablet `{alias}` does not exist")))?;
        Ok((alias.clone(), self.mysql_of(t)))
    }
}

async fn create_of(conn: &mut mysql_async::Conn, show: &str) -> Result<String, mysql_async::Error> {
    let row: Option<mysql_async::Row> = conn.query_first(show).await?;
    Ok(row.and_then(|r| r.get_opt::<String, usize>(1).and_then(|v| v.ok())).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranges() {
        assert_eq!(split_workflow_name("0"), "split_0");
        assert_eq!(split_workflow_name("-80"), "split__80");
        let r = |s: &str| KeyRange::parse_shard_name(s).unwrap();
        assert!(within(&r("-80"), &r("0")));
        assert!(within(&r("80-"), &r("0")));
        assert!(within(&r("80-c0"), &r("80-")));
        assert!(!within(&r("-80"), &r("80-")));
        assert!(!within(&r("40-c0"), &r("80-")));
        assert!(!within(&r("0"), &r("-80")));
    }
}
