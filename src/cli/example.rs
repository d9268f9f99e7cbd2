//! The commerce example that `tessera up` brings up: keyspace `commerce`, shard `0`, a primary,
//! a replica and an rdonly tablet, the schema and VSchema from `examples/commerce/`. Each step
//! is idempotent, so running `up` again changes nothing.

use std::time::{Duration, Instant};

use crate::client::AdminClient;
use crate::protocol::admin::{AdminRequest, AdminResponse, ErrorCode};

const SCHEMA: &str = include_str!("../../examples/commerce/schema_commerce.sql");
const SEED: &str = include_str!("../../examples/commerce/seed_commerce.sql");
const VSCHEMA: &str = include_str!("../../examples/commerce/vschema_commerce.json");

/// Waits for the three commerce tablets, makes the first primary if the shard has none,
/// applies schema, seeds the sequences, applies the VSchema; returns the tablet table.
pub async fn set_up_commerce(admin: &AdminClient, cell: &str) -> anyhow::Result<String> {
    let primary = format!("{cell}-0000000100");
    wait_for_tablets(admin, 3, Duration::from_secs(120)).await?;
    let shard = admin.request(&AdminRequest::GetShard { keyspace: "commerce".into(), shard: "0".into() }).await;
    let has_primary = matches!(&shard, Ok(AdminResponse::Shard { shard, .. }) if shard.primary.is_some());
    if !has_primary {
        let req = AdminRequest::InitShardPrimary {
            keyspace: "commerce".into(),
            shard: "0".into(),
            primary: primary.clone(),
            force: false,
        };
        admin.request(&req).await.map_err(|e| anyhow::anyhow!("InitShardPrimary commerce/0 {primary}: {e}"))?;
    }
    let schema = AdminRequest::ApplySchema {
        keyspace: "commerce".into(),
        sql: SCHEMA.into(),
        allow_large: false,
        large_table_rows: crate::protocol::admin::default_large_table_rows(),
    };
    admin.request(&schema).await.map_err(|e| anyhow::anyhow!("ApplySchema commerce: {e}"))?;
    for stmt in crate::schema::split_statements(SEED) {
        let seed = AdminRequest::ExecuteFetchAsDba { alias: primary.clone(), sql: stmt, max_rows: None };
        admin.request(&seed).await.map_err(|e| anyhow::anyhow!("seeding the sequences: {e}"))?;
    }
    let vschema = AdminRequest::ApplyVSchema { keyspace: "commerce".into(), vschema: VSCHEMA.into(), dry_run: false };
    admin.request(&vschema).await.map_err(|e| anyhow::anyhow!("ApplyVSchema commerce: {e}"))?;
    wait_for_tablets(admin, 3, Duration::from_secs(30)).await?;
    let tablets = admin
        .request(&AdminRequest::GetTablets { keyspace: Some("commerce".into()), shard: None, cell: None })
        .await
        .map_err(|e| anyhow::anyhow!("GetTablets: {e}"))?;
    Ok(super::output::render(&tablets))
}

async fn wait_for_tablets(admin: &AdminClient, want: usize, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let req = AdminRequest::GetTablets { keyspace: Some("commerce".into()), shard: None, cell: None };
        let serving = match admin.request(&req).await {
            Ok(AdminResponse::Tablets { tablets }) => {
                tablets.iter().filter(|t| t.health.as_ref().is_some_and(|h| h.serving) && !t.stale).count()
            }
            Ok(_) => 0,
            Err(e) if e.code == ErrorCode::Unavailable => 0,
            Err(e) => anyhow::bail!("GetTablets: {e}"),
        };
        if serving >= want {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!(
                "only {serving} of {want} commerce tablets are serving after {}s; see node.log in the state directory",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
