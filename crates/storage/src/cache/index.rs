//! The index-query cache as an [`IndexClient`] wrapper: the rows an [`IndexQuery`] returned are
//! cached under a key of its table, hash key and range/value conditions.
//!
//! Validity, as Cortex's `index_cache_validity` and `cache_lookups_older_than` set it: index rows
//! of a recent day still change while ingesters flush, so a cached answer is used for at most
//! `validity` (default 5m, no higher than `-ingester.max-chunk-idle`; 0 caches nothing recent).
//! Queries whose daily bucket ended more than `cache_lookups_older_than` ago (when that is set)
//! cannot change any more and are cached without expiry. The bucket day is read from the hash
//! key (`[shard:]<user>:d<day>:…`); rows without one (v11 series → label names) count as recent.
//!
//! Writes go straight to the index; cached answers of recent buckets expire within `validity`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::Cache;
use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Version byte of the cached value layout.
const FORMAT_VERSION: u8 = 1;

/// An index client with an index-query cache in front.
pub struct CachingIndexClient {
    inner: Arc<dyn IndexClient>,
    cache: Arc<dyn Cache>,
    validity: Duration,
    immutable_after: Duration,
}

impl CachingIndexClient {
    /// Caches the query answers of `inner` in `cache`: recent buckets for `validity`, buckets
    /// that ended more than `immutable_after` ago (if non-zero) for ever.
    pub fn new(
        inner: Arc<dyn IndexClient>,
        cache: Arc<dyn Cache>,
        validity: Duration,
        immutable_after: Duration,
    ) -> Self {
        Self { inner, cache, validity, immutable_after }
    }

    /// When a fresh answer to `query` stops being valid: `Some(0)` never, `None` not cacheable.
    fn expiry_ms(&self, query: &IndexQuery, now_ms: i64) -> Option<i64> {
        if !self.immutable_after.is_zero() {
            if let Some(end) = bucket_end_ms(&query.hash_value) {
                if end.saturating_add(self.immutable_after.as_millis() as i64) <= now_ms {
                    return Some(0);
                }
            }
        }
        (!self.validity.is_zero()).then(|| now_ms.saturating_add(self.validity.as_millis() as i64))
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The end (exclusive, ms) of the daily bucket a hash key names, if it names one. With a user id
/// that itself looks like a day (`d5`) the later candidate is taken, so ambiguity only ever makes
/// an answer count as recent.
pub fn bucket_end_ms(hash_value: &str) -> Option<i64> {
    let day =
        |part: &str| part.strip_prefix('d').filter(|d| !d.is_empty()).and_then(|d| d.parse::<i64>().ok());
    let parts: Vec<&str> = hash_value.splitn(4, ':').collect();
    parts
        .iter()
        .skip(1)
        .take(2)
        .filter_map(|part| day(part))
        .max()
        .map(|d| d.saturating_add(1).saturating_mul(DAY_MS))
}

/// The cache key of a query: table, hash key and every condition (absent and empty differ).
pub fn query_key(query: &IndexQuery) -> String {
    let mut key = String::with_capacity(query.table.len() + query.hash_value.len() + 16);
    key.push_str(&query.table);
    key.push('\0');
    key.push_str(&query.hash_value);
    for condition in [&query.range_value_prefix, &query.range_value_start, &query.value_equal] {
        key.push('\0');
        match condition {
            None => key.push('-'),
            Some(bytes) => {
                key.push('+');
                for byte in bytes {
                    let _ = write!(key, "{byte:02x}");
                }
            }
        }
    }
    key
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_uvarint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn take_bytes(input: &mut &[u8]) -> Option<Vec<u8>> {
    let len = usize::try_from(take_uvarint(input)?).ok()?;
    if input.len() < len {
        return None;
    }
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    Some(bytes.to_vec())
}

/// `version, expiry ms (i64 BE, 0 = never), uvarint count, (uvarint len, range, uvarint len, value)*`.
fn encode(expiry_ms: i64, rows: &[IndexRow]) -> Bytes {
    let size: usize = rows.iter().map(|r| r.range_value.len() + r.value.len() + 4).sum();
    let mut out = Vec::with_capacity(16 + size);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&expiry_ms.to_be_bytes());
    put_uvarint(&mut out, rows.len() as u64);
    for row in rows {
        put_uvarint(&mut out, row.range_value.len() as u64);
        out.extend_from_slice(&row.range_value);
        put_uvarint(&mut out, row.value.len() as u64);
        out.extend_from_slice(&row.value);
    }
    Bytes::from(out)
}

/// The expiry and rows of a cached value; `None` if it is malformed.
fn decode(data: &[u8]) -> Option<(i64, Vec<IndexRow>)> {
    let (&version, rest) = data.split_first()?;
    if version != FORMAT_VERSION || rest.len() < 8 {
        return None;
    }
    let (expiry, mut input) = rest.split_at(8);
    let expiry_ms = i64::from_be_bytes(expiry.try_into().ok()?);
    let count = usize::try_from(take_uvarint(&mut input)?).ok()?;
    let mut rows = Vec::with_capacity(count.min(input.len()));
    for _ in 0..count {
        let range_value = take_bytes(&mut input)?;
        let value = take_bytes(&mut input)?;
        rows.push(IndexRow { range_value, value });
    }
    input.is_empty().then_some((expiry_ms, rows))
}

#[async_trait]
impl IndexClient for CachingIndexClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        self.inner.batch_write(entries).await
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        let now = now_ms();
        let keys: Vec<String> = queries.iter().map(query_key).collect();
        let mut answers: HashMap<String, Vec<IndexRow>> = HashMap::new();
        for (key, data) in self.cache.fetch(&keys).await.found {
            match decode(&data) {
                Some((expiry, rows)) if expiry == 0 || expiry > now => {
                    answers.insert(key, rows);
                }
                Some(_) => {}
                None => {
                    tracing::warn!(key = %key.replace('\0', ":"), "malformed index-cache entry; querying the index")
                }
            }
        }
        let mut pending: Vec<usize> = Vec::new();
        for (position, key) in keys.iter().enumerate() {
            if !answers.contains_key(key) && !pending.iter().any(|&p| keys[p] == *key) {
                pending.push(position);
            }
        }
        if !pending.is_empty() {
            let missed: Vec<IndexQuery> = pending.iter().map(|&p| queries[p].clone()).collect();
            let results = self.inner.query(missed).await?;
            let mut to_store = Vec::new();
            for (&position, rows) in pending.iter().zip(results) {
                if let Some(expiry) = self.expiry_ms(&queries[position], now) {
                    to_store.push((keys[position].clone(), encode(expiry, &rows)));
                }
                answers.insert(keys[position].clone(), rows);
            }
            if !to_store.is_empty() {
                self.cache.store(to_store).await;
            }
        }
        Ok(keys.iter().map(|key| answers.get(key).cloned().unwrap_or_default()).collect())
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        self.inner.create_table(name).await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.inner.delete_table(name).await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.inner.list_tables().await
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn crate::table_client::TableClient>> {
        Arc::clone(&self.inner).table_client()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_days_from_hash_keys() {
        let day = 19_000;
        let end = (day + 1) * DAY_MS;
        assert_eq!(bucket_end_ms("user:d19000:up"), Some(end));
        assert_eq!(bucket_end_ms("07:user:d19000:up:job"), Some(end));
        assert_eq!(bucket_end_ms("user:d19000:abcdef"), Some(end));
        assert_eq!(bucket_end_ms("seriesidbase64"), None);
        // A user id that looks like a day: the later candidate wins.
        assert_eq!(bucket_end_ms("03:d5:d19000:up"), Some(end));
        assert_eq!(bucket_end_ms("d5:d19000:up"), Some(end));
    }

    #[test]
    fn keys_distinguish_absent_and_empty_conditions() {
        let base = IndexQuery { table: "t".into(), hash_value: "h".into(), ..Default::default() };
        let empty_prefix = IndexQuery { range_value_prefix: Some(Vec::new()), ..base.clone() };
        let prefix = IndexQuery { range_value_prefix: Some(b"ab".to_vec()), ..base.clone() };
        let start = IndexQuery { range_value_start: Some(b"ab".to_vec()), ..base.clone() };
        let keys = [query_key(&base), query_key(&empty_prefix), query_key(&prefix), query_key(&start)];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn values_round_trip_and_garbage_is_refused() {
        let rows = vec![
            IndexRow { range_value: b"r1\0".to_vec(), value: b"v".to_vec() },
            IndexRow { range_value: vec![0xff; 300], value: Vec::new() },
        ];
        let data = encode(1234, &rows);
        assert_eq!(decode(&data), Some((1234, rows)));
        assert_eq!(decode(&data[..data.len() - 1]), None);
        assert_eq!(decode(b"\x02garbage"), None);
        assert_eq!(decode(b""), None);
    }
}
