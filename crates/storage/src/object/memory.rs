//! An in-memory object client for tests.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::RwLock;

use crate::error::StorageError;
use crate::object::{key_under_prefix, ObjectClient};

/// Objects held in memory.
#[derive(Debug, Default)]
pub struct MemoryObjectClient {
    objects: RwLock<BTreeMap<String, Bytes>>,
}

impl MemoryObjectClient {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of objects and their total size in bytes.
    pub fn usage(&self) -> (usize, usize) {
        let objects = self.objects.read();
        (objects.len(), objects.values().map(Bytes::len).sum())
    }
}

#[async_trait]
impl ObjectClient for MemoryObjectClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.objects.write().insert(key.to_string(), data);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.objects.read().get(key).cloned().ok_or_else(|| StorageError::NotFound(key.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.objects.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.objects.read().keys().filter(|key| key_under_prefix(key, prefix)).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::object::conformance::run_object_client_suite(&MemoryObjectClient::new()).await;
    }
}
