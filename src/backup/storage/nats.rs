//! `nats` backup storage: the JetStream object store of the cluster's own NATS (bucket
//! `TESSERA_BACKUPS` by default), replicated like the topology, so backups need no other
//! service. Object names follow the common layout `<keyspace>/<shard>/<name>/<file>`.

use std::path::{Path, PathBuf};

use async_nats::jetstream::{self, object_store};
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::{group_by_backup, stored_name, BackupInfo, BackupKey, BackupStorage, Manifest, MANIFEST};

pub struct NatsStorage {
    js: jetstream::Context,
    bucket: String,
    replicas: usize,
    store: OnceCell<object_store::ObjectStore>,
}

impl NatsStorage {
    pub fn new(js: jetstream::Context, bucket: String, replicas: usize) -> Self {
        NatsStorage { js, bucket, replicas: replicas.max(1), store: OnceCell::new() }
    }

    /// The bucket, created on first use with the cluster's replica count.
    async fn store(&self) -> Result<&object_store::ObjectStore, String> {
        self.store
            .get_or_try_init(|| async {
                if let Ok(s) = self.js.get_object_store(&self.bucket).await {
                    return Ok(s);
                }
                self.js
                    .create_object_store(object_store::Config {
                        bucket: self.bucket.clone(),
                        description: Some("tessera backups".into()),
                        num_replicas: self.replicas,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("cannot open or create the object store bucket: {e}"))
            })
            .await
    }

    async fn objects(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut list = self.store().await?.list().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(info) = list.next().await {
            let info = info.map_err(|e| e.to_string())?;
            if info.name.starts_with(prefix) {
                out.push(info.name);
            }
        }
        Ok(out)
    }

    async fn read_all(&self, name: &str) -> Result<Vec<u8>, String> {
        use tokio::io::AsyncReadExt;
        let mut obj = self.store().await?.get(name).await.map_err(|e| format!("{name}: {e}"))?;
        let mut buf = Vec::new();
        obj.read_to_end(&mut buf).await.map_err(|e| format!("{name}: {e}"))?;
        Ok(buf)
    }
}

impl BackupStorage for NatsStorage {
    fn describe(&self) -> String {
        format!("NATS object store bucket {}", self.bucket)
    }

    async fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String> {
        let prefix = format!("{keyspace}/{shard}/");
        let names = self.objects(&prefix).await?;
        let mut out = Vec::new();
        for (name, complete) in group_by_backup(&prefix, names.iter().map(String::as_str)) {
            let manifest = if complete {
                let bytes = self.read_all(&format!("{prefix}{name}/{MANIFEST}")).await?;
                serde_json::from_slice(&bytes).ok()
            } else {
                None
            };
            out.push(BackupInfo { name, manifest });
        }
        Ok(out)
    }

    async fn put(&self, key: &BackupKey, file: &str, staged: &Path) -> Result<(), String> {
        let name = key.object(&stored_name(file)?);
        let mut f = tokio::fs::File::open(staged).await.map_err(|e| format!("{}: {e}", staged.display()))?;
        self.store().await?.put(name.as_str(), &mut f).await.map_err(|e| e.to_string())?;
        let _ = tokio::fs::remove_file(staged).await;
        Ok(())
    }

    async fn fetch(&self, key: &BackupKey, file: &str, scratch: &Path) -> Result<PathBuf, String> {
        let stored = stored_name(file)?;
        let to = scratch.join(&stored);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut obj = self.store().await?.get(key.object(&stored)).await.map_err(|e| e.to_string())?;
        let mut out = tokio::fs::File::create(&to).await.map_err(|e| format!("{}: {e}", to.display()))?;
        tokio::io::copy(&mut obj, &mut out).await.map_err(|e| e.to_string())?;
        Ok(to)
    }

    async fn write_manifest(&self, m: &Manifest) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
        let name = BackupKey::of(m)?.object(MANIFEST);
        self.store().await?.put(name.as_str(), &mut text.as_slice()).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn remove(&self, key: &BackupKey) -> Result<(), String> {
        let objects = self.objects(&key.object("")).await?;
        if objects.is_empty() {
            return Err(format!("no backup `{}` of {}/{} in {}", key.name, key.keyspace, key.shard, self.describe()));
        }
        // The manifest first: a backup half removed is partial, never complete with files missing.
        let store = self.store().await?;
        let mut ordered = objects;
        ordered.sort_by_key(|o| !o.ends_with(MANIFEST));
        for o in ordered {
            store.delete(&o).await.map_err(|e| format!("cannot remove {o}: {e}"))?;
        }
        Ok(())
    }
}
