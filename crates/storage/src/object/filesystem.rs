//! Chunks on the local filesystem through `object_store`'s `LocalFileSystem`: one file per
//! object, the key's `/`-separated parts as directories (so `<user>/` is a directory per tenant).

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::error::StorageError;
use crate::object::ObjectClient;

fn fs_error(error: object_store::Error, key: &str) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
        other => StorageError::backend("filesystem", other),
    }
}

/// Chunk objects in a directory.
#[derive(Debug)]
pub struct FilesystemObjectClient {
    store: LocalFileSystem,
}

impl FilesystemObjectClient {
    /// Opens (creating if needed) the chunk directory.
    pub fn open(directory: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(directory).map_err(|err| {
            StorageError::backend("filesystem", format!("creating {}: {err}", directory.display()))
        })?;
        let store = LocalFileSystem::new_with_prefix(directory)
            .map_err(|err| StorageError::backend("filesystem", err))?
            .with_automatic_cleanup(true);
        Ok(Self { store })
    }
}

/// Undoes the percent-encoding `object_store` applies to characters it avoids in path parts
/// (tenant ids may hold `*`, for example).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl ObjectClient for FilesystemObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(data))
            .await
            .map_err(|err| fs_error(err, key))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let result = self.store.get(&ObjectPath::from(key)).await.map_err(|err| fs_error(err, key))?;
        result.bytes().await.map_err(|err| fs_error(err, key))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(fs_error(err, key)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix_path = ObjectPath::from(prefix.trim_end_matches('/'));
        let prefix_arg = if prefix.trim_end_matches('/').is_empty() { None } else { Some(&prefix_path) };
        let mut keys: Vec<String> = self
            .store
            .list(prefix_arg)
            .map_ok(|meta| percent_decode(meta.location.as_ref()))
            .try_collect()
            .await
            .map_err(|err| fs_error(err, prefix))?;
        keys.sort();
        Ok(keys)
    }

    /// Walks every file and deletes the chunk objects that end before the cutoff (by the
    /// `through` of their key, not the file's age); other files are left alone.
    async fn delete_chunks_before(&self, through_before_ms: i64) -> Result<Option<usize>, StorageError> {
        crate::object::delete_listed_chunks_before(self, through_before_ms).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk_key::ChunkRef;

    #[tokio::test]
    async fn conformance() {
        let directory = tempfile::tempdir().unwrap();
        let client = FilesystemObjectClient::open(directory.path()).unwrap();
        crate::object::conformance::run_object_client_suite(&client).await;
    }

    #[tokio::test]
    async fn chunks_ending_before_the_cutoff_are_deleted() {
        let directory = tempfile::tempdir().unwrap();
        let client = FilesystemObjectClient::open(directory.path()).unwrap();
        let chunk = |from_ms, through_ms| {
            ChunkRef { user: "team-a".into(), fingerprint: 0xabc, from_ms, through_ms, checksum: 7 }
                .external_key()
        };
        let (old, edge, new) = (chunk(1_000, 5_000), chunk(2_000, 10_000), chunk(9_000, 20_000));
        for key in [&old, &edge, &new, &"team-a/not-a-chunk".to_string(), &"loose".to_string()] {
            client.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        assert_eq!(client.delete_chunks_before(10_000).await.unwrap(), Some(1));
        let mut left = vec![edge, new, "loose".to_string(), "team-a/not-a-chunk".to_string()];
        left.sort();
        assert_eq!(client.list("").await.unwrap(), left, "only the chunk ending before the cutoff went");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Ab/c%"), "a*b/c%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
