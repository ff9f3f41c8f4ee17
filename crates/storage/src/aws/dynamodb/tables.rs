//! The DynamoDB `TableClient`: create (provisioned or on-demand, with tags), describe, update
//! capacity / billing mode / tags, delete and list, every call within `-dynamodb.api-limit`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{BillingMode, ProvisionedThroughput, TableDescription, TableStatus, Tag};

use super::{error_code, sdk_error, DynamoDbClient, BACKEND, RESOURCE_IN_USE, RESOURCE_NOT_FOUND};
use crate::error::StorageError;
use crate::table_client::{TableClient, TableDesc};

fn throughput(desc: &TableDesc) -> Result<ProvisionedThroughput, StorageError> {
    if desc.provisioned_read < 1 || desc.provisioned_write < 1 {
        return Err(StorageError::Config(format!(
            "table {}: provisioned read and write capacity must be at least 1 (got {} / {})",
            desc.name, desc.provisioned_read, desc.provisioned_write
        )));
    }
    ProvisionedThroughput::builder()
        .read_capacity_units(desc.provisioned_read)
        .write_capacity_units(desc.provisioned_write)
        .build()
        .map_err(|err| StorageError::backend(BACKEND, err))
}

fn tags_of(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, StorageError> {
    tags.iter()
        .map(|(key, value)| {
            Tag::builder().key(key).value(value).build().map_err(|err| StorageError::backend(BACKEND, err))
        })
        .collect()
}

/// Capacity settings of a described table.
fn settings_of(table: &TableDescription) -> (bool, i64, i64) {
    let on_demand =
        table.billing_mode_summary().and_then(|s| s.billing_mode()) == Some(&BillingMode::PayPerRequest);
    let (read, write) = table
        .provisioned_throughput()
        .map(|p| (p.read_capacity_units().unwrap_or(0), p.write_capacity_units().unwrap_or(0)))
        .unwrap_or((0, 0));
    (on_demand, read, write)
}

/// Whether `expected` asks for other capacity settings than `current` has.
fn capacity_differs(current: &TableDesc, expected: &TableDesc) -> bool {
    if expected.use_on_demand_mode {
        return !current.use_on_demand_mode;
    }
    current.use_on_demand_mode
        || current.provisioned_read != expected.provisioned_read
        || current.provisioned_write != expected.provisioned_write
}

impl DynamoDbClient {
    /// Deletes a table; a missing one is not an error.
    pub(super) async fn delete_table_named(&self, name: &str) -> Result<(), StorageError> {
        self.api_limiter.wait(1).await;
        match self.client.delete_table().table_name(name).send().await {
            Ok(_) => Ok(()),
            Err(err) if error_code(&err) == Some(RESOURCE_NOT_FOUND) => Ok(()),
            Err(err) => Err(sdk_error(err)),
        }
    }

    /// Every table name, following pages, sorted.
    pub(super) async fn list_table_names(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        let mut start = None;
        loop {
            self.api_limiter.wait(1).await;
            let output = self
                .client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            names.extend(output.table_names.unwrap_or_default());
            match output.last_evaluated_table_name {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        names.sort();
        Ok(names)
    }

    /// The tags of the resource `arn`, following pages.
    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, StorageError> {
        let mut tags = BTreeMap::new();
        let mut token = None;
        loop {
            self.api_limiter.wait(1).await;
            let output = self
                .client
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for tag in output.tags.unwrap_or_default() {
                tags.insert(tag.key, tag.value);
            }
            match output.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok(tags)
    }

    /// The described table and its ARN.
    async fn describe(&self, name: &str) -> Result<TableDescription, StorageError> {
        self.api_limiter.wait(1).await;
        let output = self.client.describe_table().table_name(name).send().await.map_err(sdk_error)?;
        output.table.ok_or_else(|| {
            StorageError::backend(BACKEND, format!("DescribeTable {name}: no table in the answer"))
        })
    }
}

#[async_trait]
impl TableClient for DynamoDbClient {
    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.list_table_names().await
    }

    async fn create_table(&self, desc: TableDesc) -> Result<(), StorageError> {
        let mut request = self.create_table_request(&desc.name)?;
        request = if desc.use_on_demand_mode {
            request.billing_mode(BillingMode::PayPerRequest)
        } else {
            request.billing_mode(BillingMode::Provisioned).provisioned_throughput(throughput(&desc)?)
        };
        if !desc.tags.is_empty() {
            request = request.set_tags(Some(tags_of(&desc.tags)?));
        }
        self.api_limiter.wait(1).await;
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) if error_code(&err) == Some(RESOURCE_IN_USE) => Ok(()),
            Err(err) => Err(sdk_error(err)),
        }
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.delete_table_named(name).await
    }

    async fn describe_table(&self, name: &str) -> Result<(TableDesc, bool), StorageError> {
        let table = self.describe(name).await?;
        let (use_on_demand_mode, provisioned_read, provisioned_write) = settings_of(&table);
        let tags = match table.table_arn() {
            Some(arn) => self.tags(arn).await?,
            None => BTreeMap::new(),
        };
        let active = table.table_status() == Some(&TableStatus::Active);
        let desc = TableDesc {
            name: name.to_string(),
            use_on_demand_mode,
            provisioned_read,
            provisioned_write,
            tags,
        };
        Ok((desc, active))
    }

    async fn update_table(&self, current: TableDesc, expected: TableDesc) -> Result<(), StorageError> {
        if capacity_differs(&current, &expected) {
            let mut request = self.client.update_table().table_name(&expected.name);
            request = if expected.use_on_demand_mode {
                request.billing_mode(BillingMode::PayPerRequest)
            } else {
                request.billing_mode(BillingMode::Provisioned).provisioned_throughput(throughput(&expected)?)
            };
            self.api_limiter.wait(1).await;
            request.send().await.map_err(sdk_error)?;
        }
        if current.tags != expected.tags {
            let table = self.describe(&expected.name).await?;
            let arn = table.table_arn().ok_or_else(|| {
                StorageError::backend(BACKEND, format!("table {} has no ARN", expected.name))
            })?;
            let removed: Vec<String> =
                current.tags.keys().filter(|key| !expected.tags.contains_key(*key)).cloned().collect();
            if !removed.is_empty() {
                self.api_limiter.wait(1).await;
                self.client
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            if !expected.tags.is_empty() {
                self.api_limiter.wait(1).await;
                self.client
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags_of(&expected.tags)?))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(on_demand: bool, read: i64, write: i64) -> TableDesc {
        TableDesc {
            name: "t".into(),
            use_on_demand_mode: on_demand,
            provisioned_read: read,
            provisioned_write: write,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn capacity_changes() {
        assert!(!capacity_differs(&desc(false, 1, 2), &desc(false, 1, 2)));
        assert!(capacity_differs(&desc(false, 1, 2), &desc(false, 1, 3)));
        assert!(capacity_differs(&desc(false, 1, 2), &desc(true, 0, 0)));
        assert!(capacity_differs(&desc(true, 0, 0), &desc(false, 1, 2)));
        assert!(!capacity_differs(&desc(true, 0, 0), &desc(true, 5, 5)), "capacity means nothing on demand");
        assert!(matches!(throughput(&desc(false, 0, 1)), Err(StorageError::Config(_))));
    }
}
