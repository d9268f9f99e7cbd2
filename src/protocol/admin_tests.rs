//! Round trips and names of the admin protocol.
use super::*;
use crate::protocol::envelope::Envelope;

#[test]
fn requests_round_trip_and_tags_match_names() {
    let reqs = vec![
        AdminRequest::AddCellInfo { name: "zone1".into(), server_address: String::new(), root: String::new() },
        AdminRequest::GetCellInfoNames,
        AdminRequest::CreateKeyspace { name: "ks".into(), durability_policy: "none".into() },
        AdminRequest::GetKeyspace { keyspace: "ks".into() },
        AdminRequest::GetKeyspaces,
        AdminRequest::DeleteKeyspace { keyspace: "ks".into(), recursive: true },
        AdminRequest::CreateShard { keyspace: "ks".into(), shard: "-80".into(), force: false, allow_overlap: false },
        AdminRequest::GetShard { keyspace: "ks".into(), shard: "-80".into() },
        AdminRequest::FindAllShardsInKeyspace { keyspace: "ks".into() },
        AdminRequest::DeleteShards {
            shards: vec![ShardRef::parse("ks/-80").unwrap()],
            recursive: false,
            even_if_serving: true,
        },
        AdminRequest::SetShardIsPrimaryServing { keyspace: "ks".into(), shard: "0".into(), serving: false },
        AdminRequest::SetShardTabletControl {
            keyspace: "ks".into(),
            shard: "0".into(),
            tablet_type: TabletType::Replica,
            denied_tables: vec!["t".into()],
            remove: false,
        },
        AdminRequest::GetTablets { keyspace: Some("ks".into()), shard: None, cell: None },
        AdminRequest::GetTopology { at: Some(3) },
        AdminRequest::ApplyVSchema { keyspace: "ks".into(), vschema: "{}".into(), dry_run: false },
        AdminRequest::GetVSchema { keyspace: "ks".into() },
        AdminRequest::ApplyRoutingRules { rules: "{}".into() },
        AdminRequest::ApplyKeyspaceRoutingRules { rules: "{}".into() },
        AdminRequest::GetRoutingRules,
        AdminRequest::GetNodes,
        AdminRequest::InitShardPrimary {
            keyspace: "ks".into(),
            shard: "0".into(),
            primary: "zone1-0000000100".into(),
            force: false,
        },
        AdminRequest::PlannedReparentShard {
            keyspace: "ks".into(),
            shard: "0".into(),
            new_primary: Some("a".into()),
            avoid_primary: None,
            wait_replicas_timeout_ms: 30_000,
        },
        AdminRequest::EmergencyReparentShard {
            keyspace: "ks".into(),
            shard: "0".into(),
            new_primary: None,
            wait_replicas_timeout_ms: 30_000,
            expected_term: Some(4),
        },
        AdminRequest::SetKeyspaceDurabilityPolicy { keyspace: "ks".into(), durability_policy: "semi_sync".into() },
        AdminRequest::SetFailover { keyspace: "ks".into(), shard: Some("0".into()), enabled: false },
        AdminRequest::ReparentTablet { alias: "a".into() },
        AdminRequest::TabletExternallyReparented { alias: "a".into() },
        AdminRequest::SetWritable { alias: "a".into(), writable: false },
        AdminRequest::ChangeTabletType { alias: "a".into(), tablet_type: TabletType::Rdonly },
        AdminRequest::StartReplication { alias: "a".into() },
        AdminRequest::StopReplication { alias: "a".into() },
        AdminRequest::ShardReplicationPositions { keyspace: "ks".into(), shard: "0".into() },
        AdminRequest::ApplySchema {
            keyspace: "ks".into(),
            sql: "create table t (a int)".into(),
            allow_large: false,
            large_table_rows: 5,
        },
        AdminRequest::GetSchema { alias: "a".into() },
        AdminRequest::ValidateSchemaKeyspace { keyspace: "ks".into() },
        AdminRequest::ExecuteFetchAsDba { alias: "a".into(), sql: "select 1".into(), max_rows: Some(3) },
        AdminRequest::Backup { alias: "a".into(), engine: "mariabackup".into(), concurrency: 2, allow_primary: false },
        AdminRequest::BackupShard {
            keyspace: "ks".into(),
            shard: "-80".into(),
            engine: "mariabackup".into(),
            concurrency: 2,
            allow_primary: true,
        },
        AdminRequest::GetBackups { keyspace: "ks".into(), shard: "-80".into(), limit: Some(3) },
        AdminRequest::DistributedTransaction {
            action: "show".into(),
            dtid: Some("tsr0000000000000001".into()),
            keyspace: None,
        },
        AdminRequest::RemoveBackup { keyspace: "ks".into(), shard: "-80".into(), name: "n".into() },
        AdminRequest::RestoreFromBackup {
            alias: "a".into(),
            backup_name: None,
            restore_to: Some(crate::backup::pitr::PitrTarget::Position { gtid: "0-1-2".into() }),
        },
        AdminRequest::DeleteTablets { aliases: vec!["a".into()], allow_primary: false },
        AdminRequest::Reshard {
            args: WorkflowArgs {
                keyspace: "ks".into(),
                workflow: "w".into(),
                action: WorkflowAction::Create,
                options: Some(StreamOptions::default()),
                tablet_types: vec![],
                timeout_ms: None,
            },
            source_shards: vec!["0".into()],
            target_shards: vec!["-80".into(), "80-".into()],
        },
        AdminRequest::MoveTables {
            args: WorkflowArgs {
                keyspace: "ks".into(),
                workflow: "w".into(),
                action: WorkflowAction::SwitchTraffic,
                options: None,
                tablet_types: vec![TabletType::Replica],
                timeout_ms: Some(5),
            },
            source_keyspace: "c".into(),
            tables: vec!["t".into()],
        },
        AdminRequest::Workflow {
            args: WorkflowArgs {
                keyspace: "ks".into(),
                workflow: "w".into(),
                action: WorkflowAction::Show,
                options: None,
                tablet_types: vec![],
                timeout_ms: None,
            },
        },
        AdminRequest::VDiff {
            args: WorkflowArgs {
                keyspace: "ks".into(),
                workflow: "w".into(),
                action: WorkflowAction::Create,
                options: None,
                tablet_types: vec![],
                timeout_ms: None,
            },
            id: None,
        },
        AdminRequest::CopySchemaShard {
            source: "ks/0".into(),
            destination: ShardRef::parse("ks/-80").unwrap(),
            tables: vec!["t".into()],
            exclude_tables: vec![],
            include_views: true,
        },
        AdminRequest::SplitClone { keyspace: "ks".into(), shard: "0".into() },
        AdminRequest::SplitDiff { keyspace: "ks".into(), shard: "-80".into() },
        AdminRequest::MigrateServedTypes {
            keyspace: "ks".into(),
            shard: "0".into(),
            served_type: TabletType::Rdonly,
            reverse: true,
        },
        AdminRequest::GetSrvKeyspaces { keyspace: "ks".into(), cells: vec!["zone1".into()] },
        AdminRequest::GetSrvVSchema { cell: String::new() },
        AdminRequest::PingTablet { alias: "a".into() },
        AdminRequest::RefreshState { alias: "a".into() },
        AdminRequest::RefreshStateByShard { keyspace: "ks".into(), shard: "0".into() },
        AdminRequest::ReloadSchema { alias: "a".into() },
        AdminRequest::ReloadSchemaShard { keyspace: "ks".into(), shard: "0".into() },
        AdminRequest::ReloadSchemaKeyspace { keyspace: "ks".into() },
        AdminRequest::Validate { keyspace: Some("ks".into()), shard: None, ping_tablets: true },
        AdminRequest::ValidateSchemaShard { keyspace: "ks".into(), shard: "0".into() },
        AdminRequest::ValidateVersionKeyspace { keyspace: "ks".into() },
        AdminRequest::GetPermissions { alias: "a".into() },
        AdminRequest::ExecuteFetchAsApp { alias: "a".into(), sql: "select 1".into(), max_rows: Some(5) },
        AdminRequest::GetWorkflows { keyspace: "ks".into() },
        AdminRequest::GetFullStatus { alias: "a".into() },
        AdminRequest::RunHealthCheck { alias: "a".into() },
        AdminRequest::SleepTablet { alias: "a".into(), duration_ms: 1000 },
    ];
    assert_eq!(reqs.len(), AdminRequest::NAMES.len());
    for (req, name) in reqs.into_iter().zip(AdminRequest::NAMES) {
        assert_eq!(req.name(), *name);
        let bytes = Envelope::new("t", req.clone()).encode().unwrap();
        let back: Envelope<AdminRequest> = Envelope::decode(&bytes).unwrap();
        assert_eq!(back.body, req);
    }
}

#[test]
fn replies_round_trip() {
    let ok: AdminReply = Ok(AdminResponse::Done { message: "done".into(), seq: 4 });
    let err: AdminReply = Err(RemoteError::new(ErrorCode::Conflict, "busy"));
    for reply in [ok, err] {
        let bytes = Envelope::new("n", reply.clone()).encode().unwrap();
        let back: Envelope<AdminReply> = Envelope::decode(&bytes).unwrap();
        assert_eq!(back.body, reply);
    }
    assert!(RemoteError::new(ErrorCode::Unavailable, "x").retryable);
    assert!(!RemoteError::new(ErrorCode::NotFound, "x").retryable);
}

#[test]
fn shard_refs() {
    assert_eq!(ShardRef::parse("customer/-80").unwrap().to_string(), "customer/-80");
    for bad in ["customer", "/-80", "customer/", ""] {
        assert!(ShardRef::parse(bad).is_err());
    }
}
