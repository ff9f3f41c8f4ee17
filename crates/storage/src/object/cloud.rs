//! An `ObjectClient` over any `object_store` cloud backend (Azure Blob today): keys become
//! object names unchanged (`<user>/<fingerprint>:<from>:<through>:<checksum>`, as Cortex names
//! them), so a bucket written by Cortex and one written by us look alike.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::error::StorageError;
use crate::object::ObjectClient;

/// Chunk objects in a cloud bucket or container reached through `object_store`.
#[derive(Debug, Clone)]
pub struct CloudObjectClient {
    backend: &'static str,
    store: Arc<dyn ObjectStore>,
}

impl CloudObjectClient {
    /// Wraps `store`; `backend` names it in errors (`azure`).
    pub fn new(backend: &'static str, store: Arc<dyn ObjectStore>) -> Self {
        Self { backend, store }
    }

    /// The object name of `key`, refused (not altered) when the store cannot hold it as is.
    fn path(&self, key: &str) -> Result<ObjectPath, StorageError> {
        ObjectPath::parse(key)
            .map_err(|err| StorageError::backend(self.backend, format!("invalid object key {key:?}: {err}")))
    }

    fn error(&self, error: object_store::Error, key: &str) -> StorageError {
        match error {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
            other => StorageError::backend(self.backend, other),
        }
    }
}

#[async_trait]
impl ObjectClient for CloudObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path(key)?;
        // A put finds nothing missing but the bucket or container itself: a backend failure.
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(|err| StorageError::backend(self.backend, format!("writing {key}: {err}")))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.path(key)?;
        let result = self.store.get(&path).await.map_err(|err| self.error(err, key))?;
        result.bytes().await.map_err(|err| self.error(err, key))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.error(err, key)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let trimmed = prefix.trim_end_matches('/');
        let prefix_path = self.path(trimmed)?;
        let prefix_arg = if trimmed.is_empty() { None } else { Some(&prefix_path) };
        let mut keys: Vec<String> = self
            .store
            .list(prefix_arg)
            .map_ok(|meta| meta.location.as_ref().to_string())
            .try_collect()
            .await
            .map_err(|err| self.error(err, prefix))?;
        // `object_store` lists by path already; keep the trait's rule explicit for stores that
        // match plain name prefixes.
        keys.retain(|key| crate::object::key_under_prefix(key, trimmed));
        keys.sort();
        Ok(keys)
    }
}
