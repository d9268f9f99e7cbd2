//! The cluster's MariaDB credentials for managed tablets (see [`crate::mysqld::users`]): made
//! once by the first node, kept in the JetStream key-value bucket `TESSERA_SECRETS` (which only
//! the `node` NATS role may read or write; see [`crate::nats_roles`]), and cached by each node
//! in `<data_dir>/mysql-credentials.json` (mode 0600) so its tablets' own MariaDB servers stay
//! reachable while NATS is not.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_nats::jetstream::{self, kv};

use crate::mysqld::users::MysqlCredentials;

const BUCKET: &str = "TESSERA_SECRETS";
const KEY: &str = "mysql";

pub fn cache_file(data_dir: &Path) -> PathBuf {
    data_dir.join("mysql-credentials.json")
}

/// The cluster's credentials: from the bucket, or made and stored there by this node if it is
/// the first; cached under `data_dir`.
pub async fn mysql_credentials(
    js: &jetstream::Context,
    replicas: usize,
    data_dir: &Path,
) -> anyhow::Result<MysqlCredentials> {
    let cfg = crate::lease::kv_stream(
        BUCKET,
        "tessera secrets: the cluster's MariaDB credentials (node role only)",
        replicas,
    );
    crate::topo::store::ensure_stream(js, cfg, false)
        .await
        .map_err(|e| anyhow::anyhow!("opening the secrets bucket: {e}"))?;
    let store = js.get_key_value(BUCKET).await.map_err(|e| anyhow::anyhow!("opening the secrets bucket: {e}"))?;
    let creds = match read(&store).await? {
        Some(c) => c,
        None => {
            let fresh = MysqlCredentials::generate();
            let bytes = serde_json::to_vec(&fresh)?;
            match store.create(KEY, bytes.into()).await {
                Ok(_) => fresh,
                // Another node made them first: theirs are the cluster's.
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => read(&store)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the secrets bucket lost its MariaDB credentials"))?,
                Err(e) => anyhow::bail!("storing the MariaDB credentials: {e}"),
            }
        }
    };
    write_cache(data_dir, &creds)?;
    Ok(creds)
}

async fn read(store: &kv::Store) -> anyhow::Result<Option<MysqlCredentials>> {
    let Some(bytes) = store.get(KEY).await.map_err(|e| anyhow::anyhow!("reading the MariaDB credentials: {e}"))? else {
        return Ok(None);
    };
    let creds: MysqlCredentials = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("the MariaDB credentials in {BUCKET} do not decode: {e}"))?;
    if !creds.complete() {
        anyhow::bail!("the MariaDB credentials in {BUCKET} lack a user or password");
    }
    Ok(Some(creds))
}

/// The credentials this node cached, if any (a node that starts while NATS is away).
pub fn cached(data_dir: &Path) -> Option<MysqlCredentials> {
    let text = std::fs::read(cache_file(data_dir)).ok()?;
    serde_json::from_slice::<MysqlCredentials>(&text).ok().filter(MysqlCredentials::complete)
}

fn write_cache(data_dir: &Path, creds: &MysqlCredentials) -> anyhow::Result<()> {
    use std::io::Write;
    let path = cache_file(data_dir);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(&serde_json::to_vec_pretty(creds)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
