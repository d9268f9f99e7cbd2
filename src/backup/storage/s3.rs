//! `s3` backup storage: any S3-compatible endpoint (AWS, MinIO, Ceph, ...), through the
//! `object_store` crate. `[backup] bucket`, `prefix`, `endpoint`, `region`; the credentials
//! come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and the other
//! `AWS_*` variables `object_store` reads). Objects: `<prefix>/<keyspace>/<shard>/<name>/<file>`.

use std::path::{Path as FsPath, PathBuf};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{group_by_backup, stored_name, BackupInfo, BackupKey, BackupStorage, Manifest, MANIFEST};

/// Files up to this size go in one request; larger ones as a multipart upload.
const SINGLE_PUT: u64 = 8 << 20;
const PART: usize = 8 << 20;

pub struct S3Storage {
    store: AmazonS3,
    prefix: String,
    where_: String,
}

impl S3Storage {
    pub fn new(bucket: &str, prefix: &str, endpoint: &str, region: &str) -> Result<Self, String> {
        // reqwest takes its TLS crypto from the process-wide rustls provider (ring, as elsewhere).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        // A store that does not answer fails a command within about half a minute, naming it,
        // rather than retrying for minutes while the operator waits.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
            ..Default::default()
        };
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(120));
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(retry).with_client_options(client);
        if !endpoint.is_empty() {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if !region.is_empty() {
            b = b.with_region(region);
        }
        let store = b.build().map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
        let prefix = prefix.trim_matches('/').to_string();
        let where_ = match endpoint {
            "" => format!("S3 bucket {bucket}/{prefix}"),
            e => format!("S3 bucket {bucket}/{prefix} at {e}"),
        };
        Ok(S3Storage { store, prefix, where_ })
    }

    fn path(&self, object: &str) -> Path {
        match self.prefix.as_str() {
            "" => Path::from(object),
            p => Path::from(format!("{p}/{object}")),
        }
    }

    /// Object names under `<prefix>/<dir>`, without the storage prefix.
    async fn objects(&self, dir: &str) -> Result<Vec<String>, String> {
        let metas: Vec<_> = self.store.list(Some(&self.path(dir))).try_collect().await.map_err(|e| e.to_string())?;
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(strip.as_str()).map(str::to_string))
            .collect())
    }
}

impl BackupStorage for S3Storage {
    fn describe(&self) -> String {
        self.where_.clone()
    }

    async fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String> {
        let dir = format!("{keyspace}/{shard}/");
        let names = self.objects(&format!("{keyspace}/{shard}")).await?;
        let mut out = Vec::new();
        for (name, complete) in group_by_backup(&dir, names.iter().map(String::as_str)) {
            let manifest = if complete {
                let got = self.store.get(&self.path(&format!("{dir}{name}/{MANIFEST}"))).await;
                let bytes = got.map_err(|e| e.to_string())?.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice(&bytes).ok()
            } else {
                None
            };
            out.push(BackupInfo { name, manifest });
        }
        Ok(out)
    }

    async fn put(&self, key: &BackupKey, file: &str, staged: &FsPath) -> Result<(), String> {
        let path = self.path(&key.object(&stored_name(file)?));
        let mut f = tokio::fs::File::open(staged).await.map_err(|e| format!("{}: {e}", staged.display()))?;
        let len = f.metadata().await.map_err(|e| e.to_string())?.len();
        if len <= SINGLE_PUT {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf).await.map_err(|e| format!("{}: {e}", staged.display()))?;
            self.store.put(&path, PutPayload::from(buf)).await.map_err(|e| e.to_string())?;
        } else {
            let upload = self.store.put_multipart(&path).await.map_err(|e| e.to_string())?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; 1 << 20];
            let copied = async {
                loop {
                    let n = f.read(&mut buf).await.map_err(|e| format!("{}: {e}", staged.display()))?;
                    if n == 0 {
                        return Ok::<_, String>(());
                    }
                    w.wait_for_capacity(4).await.map_err(|e| e.to_string())?;
                    w.write(&buf[..n]);
                }
            }
            .await;
            match copied {
                Ok(()) => {
                    w.finish().await.map_err(|e| e.to_string())?;
                }
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(e);
                }
            }
        }
        let _ = tokio::fs::remove_file(staged).await;
        Ok(())
    }

    async fn fetch(&self, key: &BackupKey, file: &str, scratch: &FsPath) -> Result<PathBuf, String> {
        let stored = stored_name(file)?;
        let to = scratch.join(&stored);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let got = self.store.get(&self.path(&key.object(&stored))).await.map_err(|e| e.to_string())?;
        let mut stream = got.into_stream();
        let mut out = tokio::fs::File::create(&to).await.map_err(|e| format!("{}: {e}", to.display()))?;
        while let Some(chunk) = stream.try_next().await.map_err(|e| e.to_string())? {
            out.write_all(&chunk).await.map_err(|e| format!("{}: {e}", to.display()))?;
        }
        out.flush().await.map_err(|e| format!("{}: {e}", to.display()))?;
        Ok(to)
    }

    async fn write_manifest(&self, m: &Manifest) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
        let path = self.path(&BackupKey::of(m)?.object(MANIFEST));
        self.store.put(&path, PutPayload::from(text)).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn remove(&self, key: &BackupKey) -> Result<(), String> {
        let mut objects = self.objects(&key.object("")).await?;
        if objects.is_empty() {
            return Err(format!("no backup `{}` of {}/{} in {}", key.name, key.keyspace, key.shard, self.describe()));
        }
        // The manifest first: a backup half removed is partial, never complete with files missing.
        objects.sort_by_key(|o| !o.ends_with(MANIFEST));
        for o in objects {
            self.store.delete(&self.path(&o)).await.map_err(|e| format!("cannot remove {o}: {e}"))?;
        }
        Ok(())
    }
}
