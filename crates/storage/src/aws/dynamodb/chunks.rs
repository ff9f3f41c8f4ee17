//! Chunks in DynamoDB (`object_store: aws-dynamo`), as Cortex keeps them: one item per chunk
//! in the chunk table of the period holding its first sample, with the index tables' key
//! schema — hash key `h` = the external chunk key, range key `r` = the fixed placeholder `c`,
//! the object in the value attribute `c`. Writes go in BatchWriteItem requests of 25 items
//! (unprocessed items retried with backoff, missing tables created on demand), reads in
//! BatchGetItem requests of 100 keys (unprocessed keys retried). DynamoDB items hold at most
//! 400 KB, so a larger object is refused with an error saying so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::index::{backoff_delay, WriteBatch};
use super::{
    error_code, sdk_error, DynamoDbClient, BACKEND, HASH_KEY, MAX_WRITE_BATCH, QUERY_CONCURRENCY, RANGE_KEY,
    RESOURCE_NOT_FOUND, VALUE_KEY, WRITE_CONCURRENCY,
};
use crate::aws::config::AwsConfig;
use crate::error::StorageError;
use crate::object::tables::ChunkTables;
use crate::object::{key_under_prefix, ObjectClient};
use crate::schema::config::SchemaConfig;
use crate::table_client::TableClient;

/// The range key of every chunk item (DynamoDB needs a non-empty one; Cortex writes `c`).
pub const CHUNK_RANGE_VALUE: &[u8] = b"c";
/// Most bytes one DynamoDB item may hold (attribute names and values together).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Most keys one BatchGetItem request may ask for.
pub const MAX_READ_BATCH: usize = 100;

/// A chunk item's key attributes.
type ItemKey = HashMap<String, AttributeValue>;

/// The object client keeping chunks in the schema's DynamoDB chunk tables.
#[derive(Debug, Clone)]
pub struct DynamoDbChunkClient {
    db: DynamoDbClient,
    tables: ChunkTables,
}

/// The key attributes of the item holding `key`.
fn item_key(key: &str) -> ItemKey {
    HashMap::from([
        (HASH_KEY.to_string(), AttributeValue::S(key.to_string())),
        (RANGE_KEY.to_string(), AttributeValue::B(Blob::new(CHUNK_RANGE_VALUE))),
    ])
}

/// The size DynamoDB counts for the item of `key` holding `data`.
fn item_bytes(key: &str, data: &[u8]) -> usize {
    HASH_KEY.len() + key.len() + RANGE_KEY.len() + CHUNK_RANGE_VALUE.len() + VALUE_KEY.len() + data.len()
}

/// The write request of one object; an empty object is stored without a value attribute.
fn put_request(key: &str, data: &Bytes) -> Result<WriteRequest, StorageError> {
    let size = item_bytes(key, data);
    if size > MAX_ITEM_BYTES {
        return Err(StorageError::BadQuery(format!(
            "chunk object {key} is {} bytes ({size} as a DynamoDB item), more than the 400 KB a \
             DynamoDB item holds: keep chunks in S3 instead (object_store: s3)",
            data.len()
        )));
    }
    let mut put = PutRequest::builder().set_item(Some(item_key(key)));
    if !data.is_empty() {
        put = put.item(VALUE_KEY, AttributeValue::B(Blob::new(data.to_vec())));
    }
    let put = put.build().map_err(|err| StorageError::backend(BACKEND, err))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// The key and object of a returned item.
fn object_of(mut item: HashMap<String, AttributeValue>) -> Result<(String, Bytes), StorageError> {
    let key = match item.remove(HASH_KEY) {
        Some(AttributeValue::S(key)) => key,
        other => return Err(StorageError::corrupt("chunk item", format!("hash key attribute is {other:?}"))),
    };
    let data = match item.remove(VALUE_KEY) {
        None => Bytes::new(),
        Some(AttributeValue::B(blob)) => Bytes::from(blob.into_inner()),
        Some(other) => {
            return Err(StorageError::corrupt("chunk item", format!("{key}: value attribute is {other:?}")))
        }
    };
    Ok((key, data))
}

/// Splits `objects` of one table into BatchWriteItem bodies of at most 25 items; a key put
/// twice keeps its last object (DynamoDB refuses a batch with duplicate keys).
fn write_batches(table: &str, objects: Vec<(String, Bytes)>) -> Result<Vec<WriteBatch>, StorageError> {
    let unique: BTreeMap<String, Bytes> = objects.into_iter().collect();
    let requests: Vec<WriteRequest> =
        unique.iter().map(|(key, data)| put_request(key, data)).collect::<Result<_, _>>()?;
    Ok(requests
        .chunks(MAX_WRITE_BATCH)
        .map(|part| WriteBatch::from([(table.to_string(), part.to_vec())]))
        .collect())
}

impl DynamoDbChunkClient {
    /// Connects as `storage.aws.dynamodb` says; objects go to the chunk tables of `schema`.
    pub async fn connect(config: &AwsConfig, schema: SchemaConfig) -> Result<Self, StorageError> {
        Ok(Self { db: DynamoDbClient::connect(config).await?, tables: ChunkTables::new(schema) })
    }

    /// The objects of `keys` (at most 100, distinct) in `table`: one BatchGetItem, then its
    /// unprocessed keys again after a backoff. A missing table holds nothing.
    async fn read_batch(&self, table: &str, keys: Vec<String>) -> Result<Vec<(String, Bytes)>, StorageError> {
        let backoff = &self.db.config.backoff_config;
        let names = HashMap::from([
            ("#h".to_string(), HASH_KEY.to_string()),
            ("#c".to_string(), VALUE_KEY.to_string()),
        ]);
        let mut pending: Vec<ItemKey> = keys.iter().map(|key| item_key(key)).collect();
        let mut found = Vec::with_capacity(keys.len());
        let mut retries = 0u32;
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending.clone()))
                .projection_expression("#h, #c")
                .set_expression_attribute_names(Some(names.clone()))
                .build()
                .map_err(|err| StorageError::backend(BACKEND, err))?;
            let result = self.db.client.batch_get_item().request_items(table, request).send().await;
            match result {
                Ok(output) => {
                    for item in output.responses.unwrap_or_default().remove(table).unwrap_or_default() {
                        found.push(object_of(item)?);
                    }
                    let left = output
                        .unprocessed_keys
                        .unwrap_or_default()
                        .remove(table)
                        .map(|keys| keys.keys)
                        .unwrap_or_default();
                    if left.is_empty() {
                        return Ok(found);
                    }
                    pending = left;
                }
                Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => return Ok(found),
                Err(err) if error_code(&err) == Some("ProvisionedThroughputExceededException") => {
                    tracing::debug!(table, "dynamodb chunk read throttled");
                }
                Err(err) => return Err(sdk_error(err)),
            }
            if retries >= backoff.max_retries {
                return Err(StorageError::backend(
                    BACKEND,
                    format!("{} chunks of table {table} still unread after {retries} retries", pending.len()),
                ));
            }
            tokio::time::sleep(backoff_delay(backoff.min_period.0, backoff.max_period.0, retries)).await;
            retries += 1;
        }
    }

    /// Every object key in `table`, following Scan pages.
    async fn scan_keys(&self, table: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut start_key = None;
        loop {
            let result = self
                .db
                .client
                .scan()
                .table_name(table)
                .projection_expression("#h")
                .expression_attribute_names("#h", HASH_KEY)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => return Ok(keys),
                Err(err) => return Err(sdk_error(err)),
            };
            for mut item in output.items.unwrap_or_default() {
                if let Some(AttributeValue::S(key)) = item.remove(HASH_KEY) {
                    keys.push(key);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(keys),
            }
        }
    }
}

#[async_trait]
impl ObjectClient for DynamoDbChunkClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.put_many(vec![(key.to_string(), data)], 1).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        crate::object::get_one(self, key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let table = self.tables.table_for_key(key)?;
        let result =
            self.db.client.delete_item().table_name(&table).set_key(Some(item_key(key))).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => Ok(()),
            Err(err) => Err(sdk_error(err)),
        }
    }

    /// Scans every chunk table of the schema (for tools and tests; reads never list).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        for table in self.db.list_table_names().await? {
            if self.tables.owns(&table) {
                keys.extend(
                    self.scan_keys(&table).await?.into_iter().filter(|key| key_under_prefix(key, prefix)),
                );
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn put_many(&self, objects: Vec<(String, Bytes)>, concurrency: usize) -> Result<(), StorageError> {
        let mut batches = Vec::new();
        for (table, objects) in self.tables.group(objects, |(key, _)| key.as_str())? {
            batches.extend(write_batches(&table, objects)?);
        }
        futures::stream::iter(batches.into_iter().map(|batch| self.db.write_batch(batch)))
            .buffer_unordered(concurrency.clamp(1, WRITE_CONCURRENCY))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Bytes>, StorageError> {
        let mut asked = HashSet::new();
        let unique = keys.iter().filter(|key| asked.insert(key.as_str())).cloned();
        let mut reads = Vec::new();
        for (table, keys) in self.tables.group(unique, String::as_str)? {
            for part in keys.chunks(MAX_READ_BATCH) {
                reads.push(self.read_batch_owned(table.clone(), part.to_vec()));
            }
        }
        let mut found: HashMap<String, Bytes> = HashMap::with_capacity(asked.len());
        let batches: Vec<Vec<(String, Bytes)>> = futures::stream::iter(reads)
            .buffer_unordered(concurrency.clamp(1, QUERY_CONCURRENCY))
            .try_collect()
            .await?;
        found.extend(batches.into_iter().flatten());
        keys.iter()
            .map(|key| found.get(key).cloned().ok_or_else(|| StorageError::NotFound(key.clone())))
            .collect()
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        Some(Arc::new(self.db.clone()))
    }
}

impl DynamoDbChunkClient {
    /// [`Self::read_batch`] with owned arguments, for streams of reads.
    async fn read_batch_owned(
        &self,
        table: String,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Bytes)>, StorageError> {
        self.read_batch(&table, keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_items_of_25_with_the_placeholder_range_key() {
        let objects: Vec<(String, Bytes)> =
            (0..60).map(|i| (format!("t/{i:x}:0:1:0"), Bytes::from(vec![i as u8; 3]))).collect();
        let mut doubled = objects.clone();
        doubled.push(("t/0:0:1:0".to_string(), Bytes::from_static(b"newer")));
        let batches = write_batches("chunks_1", doubled).unwrap();
        assert_eq!(batches.iter().map(|b| b["chunks_1"].len()).collect::<Vec<_>>(), [25, 25, 10]);
        let item = batches[0]["chunks_1"][0].put_request().unwrap().item();
        assert_eq!(item[HASH_KEY], AttributeValue::S("t/0:0:1:0".into()));
        assert_eq!(item[RANGE_KEY], AttributeValue::B(Blob::new("c")));
        assert_eq!(item[VALUE_KEY], AttributeValue::B(Blob::new("newer")), "last put wins");
        let (key, data) = object_of(item.clone()).unwrap();
        assert_eq!((key.as_str(), &data[..]), ("t/0:0:1:0", &b"newer"[..]));
    }

    #[test]
    fn empty_objects_have_no_value_and_big_ones_are_refused() {
        let request = put_request("t/1:0:1:0", &Bytes::new()).unwrap();
        let item = request.put_request().unwrap().item();
        assert!(!item.contains_key(VALUE_KEY));
        assert_eq!(object_of(item.clone()).unwrap().1, Bytes::new());

        let key = "t/1:0:1:0";
        let fits = MAX_ITEM_BYTES - item_bytes(key, &[]);
        assert!(put_request(key, &Bytes::from(vec![0; fits])).is_ok());
        let err = put_request(key, &Bytes::from(vec![0; fits + 1])).unwrap_err().to_string();
        assert!(err.contains("400 KB") && err.contains(key), "{err}");
        assert!(object_of(HashMap::new()).is_err(), "an item without a hash key is corrupt");
    }
}
