//! The DynamoDB `IndexClient`: BatchWriteItem in batches of 25 with backed-off retries of
//! unprocessed items, Query with the range-key condition and value filter of an `IndexQuery`,
//! following every page.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use futures::{StreamExt, TryStreamExt};

use super::{
    error_code, sdk_error, DynamoDbClient, BACKEND, HASH_KEY, MAX_WRITE_BATCH, QUERY_CONCURRENCY, RANGE_KEY,
    RESOURCE_IN_USE, RESOURCE_NOT_FOUND, VALUE_KEY, WRITE_CONCURRENCY,
};
use crate::error::StorageError;
use crate::index::IndexClient;
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use aws_sdk_dynamodb::types::AttributeValue;

/// One BatchWriteItem request body: write requests per table.
pub(super) type WriteBatch = HashMap<String, Vec<WriteRequest>>;

/// The DynamoDB item of an entry; an empty value is left out, as Cortex does.
fn item(entry: &IndexEntry) -> Result<WriteRequest, StorageError> {
    if entry.hash_value.is_empty() || entry.range_value.is_empty() {
        return Err(StorageError::BadQuery(format!(
            "dynamodb index rows need a non-empty hash and range key (table {}, hash {:?})",
            entry.table, entry.hash_value
        )));
    }
    let mut put = PutRequest::builder()
        .item(HASH_KEY, AttributeValue::S(entry.hash_value.clone()))
        .item(RANGE_KEY, AttributeValue::B(Blob::new(entry.range_value.clone())));
    if !entry.value.is_empty() {
        put = put.item(VALUE_KEY, AttributeValue::B(Blob::new(entry.value.clone())));
    }
    let put = put.build().map_err(|err| StorageError::backend(BACKEND, err))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// Splits entries into request bodies of at most 25 items of one table each; a row written
/// twice keeps its last value (DynamoDB refuses a batch with duplicate keys). One table per body
/// because v11's label-names row (hash = series id) is the same item in every table a chunk
/// spans, and moto refuses equal items in one body even across tables.
fn write_batches(entries: Vec<IndexEntry>) -> Result<Vec<WriteBatch>, StorageError> {
    let mut unique: BTreeMap<(String, String, Vec<u8>), IndexEntry> = BTreeMap::new();
    for entry in entries {
        unique.insert((entry.table.clone(), entry.hash_value.clone(), entry.range_value.clone()), entry);
    }
    let mut batches = Vec::with_capacity(unique.len().div_ceil(MAX_WRITE_BATCH));
    let mut current: Option<(String, Vec<WriteRequest>)> = None;
    for entry in unique.into_values() {
        let request = item(&entry)?;
        match &mut current {
            Some((table, requests)) if *table == entry.table && requests.len() < MAX_WRITE_BATCH => {
                requests.push(request)
            }
            _ => {
                if let Some((table, requests)) = current.take() {
                    batches.push(WriteBatch::from([(table, requests)]));
                }
                current = Some((entry.table, vec![request]));
            }
        }
    }
    if let Some((table, requests)) = current {
        batches.push(WriteBatch::from([(table, requests)]));
    }
    Ok(batches)
}

fn batch_len(batch: &WriteBatch) -> usize {
    batch.values().map(Vec::len).sum()
}

/// The wait before retry `attempt` (0-based): doubling from `min`, capped at `max`.
pub(super) fn backoff_delay(min: Duration, max: Duration, attempt: u32) -> Duration {
    min.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX)).min(max)
}

/// The key condition, filter and placeholders of one Query request.
#[derive(Debug, PartialEq)]
struct QueryExpression {
    condition: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl QueryExpression {
    /// `#h = :h`, plus `begins_with(#r, :p)` for a prefix or else `#r >= :s` for a start, and
    /// the filter `#c = :v` for a non-empty expected value. DynamoDB refuses placeholders an
    /// expression does not use, so each comes with the condition that uses it. What this cannot
    /// express (a start beside a prefix, an empty expected value) the caller checks per row.
    fn of(query: &IndexQuery) -> Self {
        let mut names = HashMap::from([("#h".to_string(), HASH_KEY.to_string())]);
        let mut values = HashMap::from([(":h".to_string(), AttributeValue::S(query.hash_value.clone()))]);
        let mut condition = "#h = :h".to_string();
        if let Some(prefix) = query.range_value_prefix.as_ref().filter(|p| !p.is_empty()) {
            condition.push_str(" AND begins_with(#r, :p)");
            names.insert("#r".to_string(), RANGE_KEY.to_string());
            values.insert(":p".to_string(), AttributeValue::B(Blob::new(prefix.clone())));
        } else if let Some(start) = query.range_value_start.as_ref().filter(|s| !s.is_empty()) {
            condition.push_str(" AND #r >= :s");
            names.insert("#r".to_string(), RANGE_KEY.to_string());
            values.insert(":s".to_string(), AttributeValue::B(Blob::new(start.clone())));
        }
        let mut filter = None;
        if let Some(expected) = query.value_equal.as_ref().filter(|v| !v.is_empty()) {
            names.insert("#c".to_string(), VALUE_KEY.to_string());
            values.insert(":v".to_string(), AttributeValue::B(Blob::new(expected.clone())));
            filter = Some("#c = :v".to_string());
        }
        Self { condition, filter, names, values }
    }
}

impl DynamoDbClient {
    /// Sends one batch until every item is processed: unprocessed items are retried after a
    /// backoff and at most `throttle_limit` items per second; a missing table is created once.
    pub(super) async fn write_batch(&self, mut batch: WriteBatch) -> Result<(), StorageError> {
        let backoff = &self.config.backoff_config;
        let mut retries = 0u32;
        let mut created_tables = false;
        loop {
            let result = self.client.batch_write_item().set_request_items(Some(batch.clone())).send().await;
            match result {
                Ok(output) => {
                    let unprocessed = output.unprocessed_items.unwrap_or_default();
                    let left: WriteBatch =
                        unprocessed.into_iter().filter(|(_, items)| !items.is_empty()).collect();
                    if left.is_empty() {
                        return Ok(());
                    }
                    batch = left;
                }
                Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) && !created_tables => {
                    created_tables = true;
                    for table in batch.keys() {
                        self.create_on_demand_table(table).await?;
                    }
                    continue;
                }
                Err(err) if error_code(&err) == Some("ProvisionedThroughputExceededException") => {
                    tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "dynamodb write throttled");
                }
                Err(err) => return Err(sdk_error(err)),
            }
            if retries >= backoff.max_retries {
                return Err(StorageError::backend(
                    BACKEND,
                    format!("{} items still unprocessed after {retries} retries", batch_len(&batch)),
                ));
            }
            tokio::time::sleep(backoff_delay(backoff.min_period.0, backoff.max_period.0, retries)).await;
            self.throttle_limiter.wait(batch_len(&batch) as u32).await;
            retries += 1;
        }
    }

    /// Creates `name` with Cortex's key schema, pay-per-request, and waits until it is ACTIVE.
    pub(super) async fn create_on_demand_table(&self, name: &str) -> Result<(), StorageError> {
        let request = self.create_table_request(name)?.billing_mode(BillingMode::PayPerRequest);
        self.api_limiter.wait(1).await;
        match request.send().await {
            Ok(_) => {}
            Err(err) if error_code(&err) == Some(RESOURCE_IN_USE) => {}
            Err(err) => return Err(sdk_error(err)),
        }
        self.wait_active(name).await
    }

    /// A CreateTable request with Cortex's key schema: `h` string hash key, `r` binary range key.
    pub(super) fn create_table_request(
        &self,
        name: &str,
    ) -> Result<aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder, StorageError>
    {
        let built = |err: aws_sdk_dynamodb::error::BuildError| StorageError::backend(BACKEND, err);
        let attribute = |name: &str, kind| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().map_err(built)
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(built)
        };
        Ok(self
            .client
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute(HASH_KEY, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(RANGE_KEY, ScalarAttributeType::B)?)
            .key_schema(key(HASH_KEY, KeyType::Hash)?)
            .key_schema(key(RANGE_KEY, KeyType::Range)?))
    }

    /// Every row of one query, following pages; a missing table has none.
    async fn query_one(&self, query: IndexQuery) -> Result<Vec<IndexRow>, StorageError> {
        let QueryExpression { condition, filter, names, values } = QueryExpression::of(&query);
        let mut rows = Vec::new();
        let mut start_key = None;
        loop {
            let result = self
                .client
                .query()
                .table_name(&query.table)
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => return Ok(Vec::new()),
                Err(err) => return Err(sdk_error(err)),
            };
            for item in output.items.unwrap_or_default() {
                let row = row_of(item)?;
                // Conditions DynamoDB could not express together (prefix and start, empty values).
                if query.accepts(&row.range_value, &row.value) {
                    rows.push(row);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }
        Ok(rows)
    }
}

/// The row of a returned item.
fn row_of(mut item: HashMap<String, AttributeValue>) -> Result<IndexRow, StorageError> {
    let range_value = match item.remove(RANGE_KEY) {
        Some(AttributeValue::B(blob)) => blob.into_inner(),
        other => return Err(StorageError::corrupt("index row", format!("range key attribute is {other:?}"))),
    };
    let value = match item.remove(VALUE_KEY) {
        None => Vec::new(),
        Some(AttributeValue::B(blob)) => blob.into_inner(),
        // Tables written by other tools may hold the value as a string.
        Some(AttributeValue::S(text)) => text.into_bytes(),
        Some(other) => {
            return Err(StorageError::corrupt("index row", format!("value attribute is {other:?}")))
        }
    };
    Ok(IndexRow { range_value, value })
}

#[async_trait]
impl IndexClient for DynamoDbClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        let batches = write_batches(entries)?;
        futures::stream::iter(batches.into_iter().map(|batch| self.write_batch(batch)))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        futures::stream::iter(queries.into_iter().map(|query| self.query_one(query)))
            .buffered(QUERY_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        self.create_on_demand_table(name).await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.delete_table_named(name).await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.list_table_names().await
    }

    fn table_client(
        self: std::sync::Arc<Self>,
    ) -> Option<std::sync::Arc<dyn crate::table_client::TableClient>> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn tables_of(batches: &[WriteBatch]) -> BTreeSet<&str> {
        batches.iter().flat_map(|b| b.keys().map(String::as_str)).collect()
    }

    fn entry(table: &str, hash: &str, range: &str, value: &str) -> IndexEntry {
        IndexEntry {
            table: table.into(),
            hash_value: hash.into(),
            range_value: range.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn batches_hold_25_items_of_one_table_without_duplicates() {
        let mut entries: Vec<IndexEntry> =
            (0..60).map(|i| entry("t1", "h", &format!("{i:03}"), "v")).collect();
        entries.push(entry("t2", "h", "x", "v"));
        entries.push(entry("t2", "h", "000", "v"));
        entries.push(entry("t1", "h", "000", "newer"));
        let batches = write_batches(entries).unwrap();
        assert_eq!(batches.iter().map(batch_len).collect::<Vec<_>>(), [25, 25, 10, 2]);
        assert!(batches.iter().all(|batch| batch.len() == 1), "one table per request body");
        assert_eq!(tables_of(&batches), BTreeSet::from(["t1", "t2"]));
        let first = &batches[0]["t1"][0];
        let item = first.put_request().unwrap().item();
        assert_eq!(item.get(VALUE_KEY), Some(&AttributeValue::B(Blob::new("newer"))), "last write wins");
    }

    #[test]
    fn empty_values_are_left_out_and_empty_keys_refused() {
        let request = item(&entry("t", "h", "r", "")).unwrap();
        assert!(!request.put_request().unwrap().item().contains_key(VALUE_KEY));
        assert!(matches!(item(&entry("t", "h", "", "v")), Err(StorageError::BadQuery(_))));
        let row =
            row_of(HashMap::from([(RANGE_KEY.to_string(), AttributeValue::B(Blob::new("r")))])).unwrap();
        assert_eq!(row, IndexRow { range_value: b"r".to_vec(), value: Vec::new() });
        assert!(row_of(HashMap::new()).is_err(), "an item without a range key is corrupt");
    }

    #[test]
    fn query_expressions_use_every_placeholder() {
        let base = IndexQuery { table: "t".into(), hash_value: "h".into(), ..Default::default() };
        let plain = QueryExpression::of(&base);
        assert_eq!(plain.condition, "#h = :h");
        assert_eq!((plain.names.len(), plain.values.len(), plain.filter), (1, 1, None));

        let prefix = QueryExpression::of(&IndexQuery {
            range_value_prefix: Some(b"p".to_vec()),
            range_value_start: Some(b"s".to_vec()),
            value_equal: Some(b"v".to_vec()),
            ..base.clone()
        });
        assert_eq!(prefix.condition, "#h = :h AND begins_with(#r, :p)");
        assert_eq!(prefix.filter.as_deref(), Some("#c = :v"));
        assert_eq!(prefix.names.len(), 3);
        assert_eq!(prefix.values.keys().filter(|k| *k == ":s").count(), 0, "the start is checked per row");
        assert_eq!(prefix.values[":v"], AttributeValue::B(Blob::new("v")));

        let start = QueryExpression::of(&IndexQuery {
            range_value_start: Some(b"s".to_vec()),
            value_equal: Some(Vec::new()),
            ..base
        });
        assert_eq!(start.condition, "#h = :h AND #r >= :s");
        assert_eq!(start.filter, None, "an empty expected value is checked per row");
        assert_eq!(start.names.len(), 2);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (0..6).map(|i| backoff_delay(min, max, i).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_delay(min, max, 100), max);
    }
}
