//! Where a table-based object store (chunks as rows of the schema's periodic chunk tables:
//! `aws-dynamo`, `bigtable`, `gcp`, `gcp-columnkey`, `bigtable-hashed`) keeps each object: the
//! chunk table of the period holding the object's first sample, as Cortex's `ChunkTableFor`
//! picks it, and which tables are chunk tables at all (for listing).

use std::collections::BTreeMap;

use crate::chunk_key::key_from_ms;
use crate::error::StorageError;
use crate::schema::config::SchemaConfig;

/// The chunk tables of a schema.
#[derive(Debug, Clone)]
pub struct ChunkTables {
    schema: SchemaConfig,
}

impl ChunkTables {
    /// The chunk tables of `schema` (validated: table-based periods have a chunk prefix).
    pub fn new(schema: SchemaConfig) -> Self {
        Self { schema }
    }

    /// The table holding the object under `key`.
    pub fn table_for_key(&self, key: &str) -> Result<String, StorageError> {
        let from_ms = key_from_ms(key)?;
        let period = self.schema.period_for(from_ms).ok_or_else(|| {
            StorageError::BadQuery(format!(
                "no schema period holds chunk {key:?}: it starts before the first"
            ))
        })?;
        if period.chunks.prefix.is_empty() {
            return Err(StorageError::Config(format!(
                "the schema period from {} keeps chunks in tables but has no chunks.prefix",
                period.from
            )));
        }
        Ok(period.chunks.table_for(from_ms))
    }

    /// `items` grouped by the table of their key, tables in name order, items in input order.
    pub fn group<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &str,
    ) -> Result<BTreeMap<String, Vec<T>>, StorageError> {
        let mut tables: BTreeMap<String, Vec<T>> = BTreeMap::new();
        for item in items {
            let table = self.table_for_key(key(&item))?;
            tables.entry(table).or_default().push(item);
        }
        Ok(tables)
    }

    /// Whether `table` is one of the schema's chunk tables (of a period keeping chunks in
    /// tables): `prefix` itself for non-periodic tables, `prefix` and a period number otherwise.
    pub fn owns(&self, table: &str) -> bool {
        self.schema.configs.iter().filter(|p| p.chunks_in_tables() && !p.chunks.prefix.is_empty()).any(|p| {
            match table.strip_prefix(p.chunks.prefix.as_str()) {
                Some("") => p.chunks.period_ms() == 0,
                Some(number) => p.chunks.period_ms() > 0 && number.bytes().all(|b| b.is_ascii_digit()),
                None => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_go_to_the_table_of_their_first_sample() {
        let schema = SchemaConfig::from_yaml(
            "configs:\n  - {from: 2020-01-01, store: aws-dynamo, schema: v11, chunks: {prefix: c_, period: 168h}}\n  - {from: 2020-02-01, store: bigtable, schema: v11, chunks: {prefix: whole}}\n",
        )
        .unwrap();
        let tables = ChunkTables::new(schema);
        // 2020-01-16T00:00:00Z is in week 2611.
        let key = format!("t/1:{:x}:0:0", 1_579_132_800_000_i64);
        assert_eq!(tables.table_for_key(&key).unwrap(), "c_2611");
        let later = format!("t/1:{:x}:0:0", 1_583_020_800_000_i64);
        assert_eq!(tables.table_for_key(&later).unwrap(), "whole");
        assert!(tables.table_for_key("t/1:0:0:0").is_err(), "before the first period");
        assert!(tables.table_for_key("not-a-key").is_err());
        let grouped = tables.group([key.as_str(), later.as_str(), key.as_str()], |k| k).unwrap();
        assert_eq!(grouped["c_2611"].len(), 2);
        assert_eq!(grouped["whole"].len(), 1);
        assert!(tables.owns("c_2611") && tables.owns("whole"));
        assert!(
            !tables.owns("c_") && !tables.owns("c_x1") && !tables.owns("wholesale") && !tables.owns("i_1")
        );
    }
}
