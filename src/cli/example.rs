//! The example that `tessera up` brings up: keyspace `commerce` (shard `0`: a primary, a replica
//! and an rdonly tablet) and keyspace `customer` (shards `-80` and `80-`, a primary and a
//! replica each), with the schemas and VSchemas from `examples/commerce/`. A keyspace that has
//! a VSchema already (the example's, or what the user applied since) keeps it, its schema and
//! its rows: running `up` again never overwrites what the user changed.

use std::time::{Duration, Instant};

use crate::client::AdminClient;
use crate::protocol::admin::{AdminRequest, AdminResponse, ErrorCode};

const SCHEMA: &str = include_str!("../../examples/commerce/schema_commerce.sql");
const SEED: &str = include_str!("../../examples/commerce/seed_commerce.sql");
const VSCHEMA: &str = include_str!("../../examples/commerce/vschema_commerce.json");
const CUSTOMER_SCHEMA: &str = include_str!("../../examples/commerce/schema_customer.sql");
const CUSTOMER_VSCHEMA: &str = include_str!("../../examples/commerce/vschema_customer.json");

/// Waits for the example tablets, makes a primary for each shard that has none, applies
/// schemas, seeds the sequences, applies the VSchemas; returns the tablet table.
pub async fn set_up_commerce(admin: &AdminClient, cell: &str) -> anyhow::Result<String> {
    let primary = format!("{cell}-0000000100");
    wait_for_tablets(admin, 7, Duration::from_secs(180)).await?;
    for (ks, shard, uid) in [("commerce", "0", 100), ("customer", "-80", 200), ("customer", "80-", 300)] {
        let current = admin.request(&AdminRequest::GetShard { keyspace: ks.into(), shard: shard.into() }).await;
        if matches!(&current, Ok(AdminResponse::Shard { shard, .. }) if shard.primary.is_some()) {
            continue;
        }
        let alias = format!("{cell}-{uid:010}");
        let req = AdminRequest::InitShardPrimary {
            keyspace: ks.into(),
            shard: shard.into(),
            primary: alias.clone(),
            force: false,
        };
        admin.request(&req).await.map_err(|e| anyhow::anyhow!("InitShardPrimary {ks}/{shard} {alias}: {e}"))?;
    }
    for (ks, sql, json) in [("commerce", SCHEMA, VSCHEMA), ("customer", CUSTOMER_SCHEMA, CUSTOMER_VSCHEMA)] {
        let current = admin.request(&AdminRequest::GetVSchema { keyspace: ks.into() }).await;
        if matches!(current, Ok(AdminResponse::VSchema { vschema: Some(_), .. })) {
            continue;
        }
        let schema = AdminRequest::ApplySchema {
            keyspace: ks.into(),
            sql: sql.into(),
            allow_large: false,
            large_table_rows: crate::protocol::admin::default_large_table_rows(),
        };
        admin.request(&schema).await.map_err(|e| anyhow::anyhow!("ApplySchema {ks}: {e}"))?;
        if ks == "commerce" {
            for stmt in crate::schema::split_statements(SEED) {
                let seed = AdminRequest::ExecuteFetchAsDba { alias: primary.clone(), sql: stmt, max_rows: None };
                admin.request(&seed).await.map_err(|e| anyhow::anyhow!("seeding the sequences: {e}"))?;
            }
        }
        let vschema = AdminRequest::ApplyVSchema { keyspace: ks.into(), vschema: json.into(), dry_run: false };
        admin.request(&vschema).await.map_err(|e| anyhow::anyhow!("ApplyVSchema {ks}: {e}"))?;
    }
    wait_for_tablets(admin, 7, Duration::from_secs(30)).await?;
    let tablets = admin
        .request(&AdminRequest::GetTablets { keyspace: None, shard: None, cell: None })
        .await
        .map_err(|e| anyhow::anyhow!("GetTablets: {e}"))?;
    Ok(super::output::render(&tablets))
}

async fn wait_for_tablets(admin: &AdminClient, want: usize, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let req = AdminRequest::GetTablets { keyspace: None, shard: None, cell: None };
        let (serving, waiting) = match admin.request(&req).await {
            Ok(AdminResponse::Tablets { tablets }) => {
                let (serving, waiting): (Vec<_>, Vec<_>) =
                    tablets.iter().partition(|t| t.health.as_ref().is_some_and(|h| h.serving) && !t.stale);
                let waiting: Vec<String> = waiting
                    .iter()
                    .map(|t| {
                        let why = t.health.as_ref().and_then(|h| h.last_error.clone());
                        format!("{}: {}", t.tablet.alias, why.unwrap_or_else(|| "no health report yet".into()))
                    })
                    .collect();
                (serving.len(), waiting)
            }
            Ok(_) => (0, Vec::new()),
            Err(e) if e.code == ErrorCode::Unavailable => (0, Vec::new()),
            Err(e) => anyhow::bail!("GetTablets: {e}"),
        };
        if serving >= want {
            return Ok(());
        }
        if start.elapsed() > timeout {
            let detail = if waiting.is_empty() { String::new() } else { format!(" ({})", waiting.join("; ")) };
            anyhow::bail!(
                "only {serving} of {want} example tablets are serving after {}s{detail}; see node.log in the state directory",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
