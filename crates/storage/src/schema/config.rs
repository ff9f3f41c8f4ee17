//! The schema config (`schema:` in the YAML, or the file named by `-schema-config-file`): which
//! index store, object store, schema version and periodic tables hold the data of each period.

use std::collections::BTreeMap;
use std::path::Path;

use neocortex_core::duration::ModelDuration;
use neocortex_core::{ConfigOption, ConfigSection};

use crate::error::StorageError;
use crate::schema::day::{DayTime, MS_PER_DAY};

/// The flag that names a schema config file (Cortex's name).
pub const SCHEMA_CONFIG_FILE_FLAG: &str = "schema-config-file";

/// Row shards of v10/v11 when `row_shards` is not set (Cortex's default).
pub const DEFAULT_ROW_SHARDS: u32 = 16;

/// Index stores a period may name. `redb` is our embedded index; `boltdb` (Cortex's embedded
/// index) is accepted as its alias so Cortex schema files work unchanged.
pub const INDEX_STORES: &[&str] = &[
    "redb",
    "boltdb",
    "inmemory",
    "aws",
    "aws-dynamo",
    "bigtable",
    "bigtable-hashed",
    "gcp",
    "gcp-columnkey",
    "cassandra",
];

/// Object stores a period may name; empty means "the same as `store`".
pub const OBJECT_STORES: &[&str] = &[
    "filesystem",
    "inmemory",
    "s3",
    "aws",
    "aws-dynamo",
    "gcs",
    "bigtable",
    "bigtable-hashed",
    "gcp",
    "gcp-columnkey",
    "azure",
    "cassandra",
];

/// Object stores that keep chunks in tables and therefore need a chunk table prefix.
const TABLE_BASED_OBJECT_STORES: &[&str] =
    &["cassandra", "aws-dynamo", "bigtable-hashed", "gcp", "gcp-columnkey", "bigtable"];

/// The index layouts we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaVersion {
    /// Labels → series → chunks, one row per metric (and metric + label name) per day.
    V9,
    /// v9 with the label rows spread over `row_shards` shards.
    V10,
    /// v10 plus a series → label names row.
    V11,
}

impl SchemaVersion {
    /// The name used in config files (`v9`, `v10`, `v11`).
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaVersion::V9 => "v9",
            SchemaVersion::V10 => "v10",
            SchemaVersion::V11 => "v11",
        }
    }
}

impl std::str::FromStr for SchemaVersion {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "v9" => Ok(SchemaVersion::V9),
            "v10" => Ok(SchemaVersion::V10),
            "v11" => Ok(SchemaVersion::V11),
            "v1" | "v2" | "v3" | "v4" | "v5" | "v6" => {
                Err(format!("schema version {text} is not supported: use v9, v10 or v11"))
            }
            _ => Err(format!("invalid schema version {text:?}")),
        }
    }
}

impl serde::Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SchemaVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The tables of one kind (index or chunks) for a period: a name prefix and how much time
/// each table covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeriodicTableConfig {
    /// Prefix of every table name.
    pub prefix: String,
    /// Time covered by one table (a multiple of 24h); 0 means one table named `prefix`.
    pub period: ModelDuration,
    /// Tags set on the tables the table manager creates.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl PeriodicTableConfig {
    /// The table period in milliseconds (0 for a single, non-periodic table).
    pub fn period_ms(&self) -> i64 {
        i64::try_from(self.period.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// The name of the table holding time `t_ms`: the prefix followed by the period number
    /// (Unix seconds / period seconds), as Cortex forms it.
    pub fn table_for(&self, t_ms: i64) -> String {
        let period_secs = self.period.0.as_secs() as i64;
        if period_secs == 0 {
            return self.prefix.clone();
        }
        self.table_for_period(t_ms.div_euclid(1000) / period_secs)
    }

    /// The name of table number `period_number`.
    pub fn table_for_period(&self, period_number: i64) -> String {
        format!("{}{period_number}", self.prefix)
    }

    /// The names of the tables covering `[from_ms, through_ms]`, oldest first (what the table
    /// manager creates for that span; a single table when the period is 0).
    pub fn tables_between(&self, from_ms: i64, through_ms: i64) -> Vec<String> {
        let period_secs = self.period.0.as_secs() as i64;
        if period_secs == 0 {
            return vec![self.prefix.clone()];
        }
        let first = from_ms.div_euclid(1000) / period_secs;
        let last = through_ms.div_euclid(1000) / period_secs;
        (first..=last).map(|number| self.table_for_period(number)).collect()
    }
}

/// One period of the schema: from its `from` day until the next period's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodConfig {
    /// First day of the period (UTC).
    pub from: DayTime,
    /// The index store (`redb`/`boltdb`, `inmemory`, `aws-dynamo`, `bigtable`, `cassandra`, …).
    pub store: String,
    /// The chunk object store; empty means `store`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object_store: String,
    /// The index layout.
    pub schema: SchemaVersion,
    /// Index tables.
    #[serde(default)]
    pub index: PeriodicTableConfig,
    /// Chunk tables (used by table-based object stores).
    #[serde(default)]
    pub chunks: PeriodicTableConfig,
    /// Shards of the label rows (v10, v11); 0 means the default of 16.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub row_shards: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl PeriodConfig {
    /// The object store actually used: `object_store`, or `store` when that is empty.
    pub fn object_store_name(&self) -> &str {
        if self.object_store.is_empty() {
            &self.store
        } else {
            &self.object_store
        }
    }

    /// Whether this period's chunks live in periodic tables (a table-based object store such as
    /// `aws-dynamo`, `bigtable` or `cassandra`), so the table manager manages chunk tables too.
    pub fn chunks_in_tables(&self) -> bool {
        TABLE_BASED_OBJECT_STORES.contains(&self.object_store_name())
    }

    /// Row shards in effect: 0 for v9, `row_shards` (default 16) for v10 and v11.
    pub fn effective_row_shards(&self) -> u32 {
        match self.schema {
            SchemaVersion::V9 => 0,
            SchemaVersion::V10 | SchemaVersion::V11 if self.row_shards == 0 => DEFAULT_ROW_SHARDS,
            SchemaVersion::V10 | SchemaVersion::V11 => self.row_shards,
        }
    }

    /// The daily index buckets covering `[from_ms, through_ms]` for `user`, as Cortex's
    /// `dailyBuckets` forms them.
    pub fn daily_buckets(&self, from_ms: i64, through_ms: i64, user: &str) -> Vec<Bucket> {
        let from_day = from_ms.div_euclid(1000) / 86_400;
        let through_day = through_ms.div_euclid(1000) / 86_400;
        (from_day..=through_day)
            .map(|day| {
                let day_start = day * MS_PER_DAY;
                Bucket {
                    from: (from_ms - day_start).clamp(0, MS_PER_DAY) as u32,
                    through: (through_ms - day_start).clamp(0, MS_PER_DAY) as u32,
                    table: self.index.table_for(day_start),
                    hash_key: format!("{user}:d{day}"),
                }
            })
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        if !INDEX_STORES.contains(&self.store.as_str()) {
            return Err(format!("unknown index store {:?} in the period from {}", self.store, self.from));
        }
        if !self.object_store.is_empty() && !OBJECT_STORES.contains(&self.object_store.as_str()) {
            return Err(format!(
                "unknown object store {:?} in the period from {}",
                self.object_store, self.from
            ));
        }
        if TABLE_BASED_OBJECT_STORES.contains(&self.object_store_name()) && self.chunks.prefix.is_empty() {
            return Err("schema config for chunks is missing the 'prefix' setting".to_string());
        }
        for table in [&self.index, &self.chunks] {
            if table.period_ms() % MS_PER_DAY != 0 {
                return Err("the table period must be a multiple of 24h (1h for schema v1)".to_string());
            }
        }
        Ok(())
    }
}

/// One daily bucket of the index: which table and hash-key prefix hold a day's entries for one
/// tenant, and which part of the day (ms relative to midnight) a read or write covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the covered range, ms after the day's midnight.
    pub from: u32,
    /// End of the covered range, ms after the day's midnight.
    pub through: u32,
    /// The index table.
    pub table: String,
    /// `<user>:d<day number>`.
    pub hash_key: String,
}

/// The whole schema: periods in increasing `from` order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// The periods, oldest first.
    #[serde(default)]
    pub configs: Vec<PeriodConfig>,
}

/// A period together with the part of a time range that falls inside it.
#[derive(Debug, Clone, Copy)]
pub struct PeriodSlice<'a> {
    /// The period's config.
    pub period: &'a PeriodConfig,
    /// Start of the slice (ms, inclusive).
    pub from_ms: i64,
    /// End of the slice (ms, inclusive).
    pub through_ms: i64,
}

impl SchemaConfig {
    /// Reads and validates a schema config file (strict YAML: unknown keys are errors).
    pub fn load_file(path: &Path) -> Result<Self, StorageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| StorageError::Config(format!("reading {}: {err}", path.display())))?;
        Self::from_yaml(&text)
    }

    /// Parses and validates a schema config document.
    pub fn from_yaml(text: &str) -> Result<Self, StorageError> {
        let config: SchemaConfig =
            serde_norway::from_str(text).map_err(|err| StorageError::Config(err.to_string()))?;
        config.validate().map_err(StorageError::Config)?;
        Ok(config)
    }

    /// The period holding time `t_ms`, if any period starts at or before it.
    pub fn period_for(&self, t_ms: i64) -> Option<&PeriodConfig> {
        self.configs.iter().rev().find(|period| period.from.start_ms <= t_ms)
    }

    /// The periods overlapping `[from_ms, through_ms]`, each with its part of the range.
    pub fn periods_in_range(&self, from_ms: i64, through_ms: i64) -> Vec<PeriodSlice<'_>> {
        let mut slices = Vec::new();
        for (index, period) in self.configs.iter().enumerate() {
            let period_end = self.configs.get(index + 1).map_or(i64::MAX, |next| next.from.start_ms - 1);
            let slice_from = from_ms.max(period.from.start_ms);
            let slice_through = through_ms.min(period_end);
            if slice_from <= slice_through {
                slices.push(PeriodSlice { period, from_ms: slice_from, through_ms: slice_through });
            }
        }
        slices
    }

    /// The chunk table holding time `t_ms` (Cortex's `ChunkTableFor`).
    pub fn chunk_table_for(&self, t_ms: i64) -> Result<String, StorageError> {
        self.period_for(t_ms)
            .map(|period| period.chunks.table_for(t_ms))
            .ok_or_else(|| StorageError::Config(format!("no chunk table found for time {t_ms}")))
    }
}

impl ConfigSection for SchemaConfig {
    fn options() -> &'static [ConfigOption] {
        // `configs` is a list: it has no flag. The file flag is `-schema-config-file`.
        &[]
    }

    fn validate(&self) -> Result<(), String> {
        for period in &self.configs {
            period.validate()?;
        }
        if self.configs.windows(2).any(|pair| pair[0].from >= pair[1].from) {
            return Err("from time in schemas must be distinct and in increasing order".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_PERIODS: &str = r#"
configs:
  - from: 2020-01-01
    store: boltdb
    object_store: filesystem
    schema: v9
    index: {prefix: index_, period: 1w}
  - from: "2020-01-15"
    store: redb
    object_store: filesystem
    schema: v11
    index: {prefix: index11_, period: 168h}
    chunks: {prefix: chunks_, period: 1w, tags: {team: a}}
    row_shards: 8
"#;

    fn day(text: &str) -> i64 {
        text.parse::<DayTime>().unwrap().start_ms
    }

    #[test]
    fn parses_cortex_yaml() {
        let config = SchemaConfig::from_yaml(TWO_PERIODS).unwrap();
        assert_eq!(config.configs.len(), 2);
        assert_eq!(config.configs[0].schema, SchemaVersion::V9);
        assert_eq!(config.configs[0].effective_row_shards(), 0);
        assert_eq!(config.configs[1].effective_row_shards(), 8);
        assert_eq!(config.configs[1].index.period_ms(), 7 * MS_PER_DAY);
        assert_eq!(config.configs[1].chunks.tags.get("team").map(String::as_str), Some("a"));
        let round_trip = serde_norway::to_string(&config).unwrap();
        assert_eq!(SchemaConfig::from_yaml(&round_trip).unwrap(), config);
    }

    #[test]
    fn default_row_shards_for_v10() {
        let config = SchemaConfig::from_yaml(
            "configs: [{from: 2021-06-01, store: redb, schema: v10, index: {prefix: i_, period: 24h}}]",
        )
        .unwrap();
        assert_eq!(config.configs[0].effective_row_shards(), 16);
    }

    #[test]
    fn validation_follows_cortex() {
        let bad_period =
            "configs: [{from: 2021-06-01, store: redb, schema: v9, index: {prefix: i_, period: 25h}}]";
        let err = SchemaConfig::from_yaml(bad_period).unwrap_err().to_string();
        assert!(err.contains("multiple of 24h"), "{err}");

        let not_increasing = "configs: [{from: 2021-06-02, store: redb, schema: v9}, {from: 2021-06-02, store: redb, schema: v10}]";
        let err = SchemaConfig::from_yaml(not_increasing).unwrap_err().to_string();
        assert!(err.contains("increasing order"), "{err}");

        let old_schema = "configs: [{from: 2021-06-01, store: redb, schema: v6}]";
        assert!(SchemaConfig::from_yaml(old_schema).unwrap_err().to_string().contains("not supported"));

        let unknown_key = "configs: [{from: 2021-06-01, store: redb, schema: v9, shards: 3}]";
        assert!(SchemaConfig::from_yaml(unknown_key).unwrap_err().to_string().contains("shards"));

        let no_chunk_prefix = "configs: [{from: 2021-06-01, store: cassandra, schema: v9}]";
        assert!(SchemaConfig::from_yaml(no_chunk_prefix).unwrap_err().to_string().contains("prefix"));

        let bad_date = "configs: [{from: 2021-6-01, store: redb, schema: v9}]";
        assert!(SchemaConfig::from_yaml(bad_date).is_err());
    }

    #[test]
    fn period_lookup_across_boundaries() {
        let config = SchemaConfig::from_yaml(TWO_PERIODS).unwrap();
        let boundary = day("2020-01-15");
        assert_eq!(config.period_for(day("2019-12-31")), None);
        assert_eq!(config.period_for(boundary - 1).unwrap().schema, SchemaVersion::V9);
        assert_eq!(config.period_for(boundary).unwrap().schema, SchemaVersion::V11);
        assert_eq!(config.period_for(i64::MAX).unwrap().schema, SchemaVersion::V11);

        let slices = config.periods_in_range(boundary - 1000, boundary + 1000);
        assert_eq!(slices.len(), 2);
        assert_eq!((slices[0].from_ms, slices[0].through_ms), (boundary - 1000, boundary - 1));
        assert_eq!((slices[1].from_ms, slices[1].through_ms), (boundary, boundary + 1000));

        let before = config.periods_in_range(0, day("2019-06-01"));
        assert!(before.is_empty());
        let inside = config.periods_in_range(day("2020-01-02"), day("2020-01-03"));
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].period.schema, SchemaVersion::V9);
    }

    #[test]
    fn table_names_are_prefix_and_period_number() {
        let config = SchemaConfig::from_yaml(TWO_PERIODS).unwrap();
        let v9 = &config.configs[0];
        // 2020-01-01 is Unix second 1577836800; 1577836800 / 604800 = 2608 (a Thursday epoch week).
        assert_eq!(v9.index.table_for(day("2020-01-01")), "index_2608");
        assert_eq!(v9.index.table_for(2609 * 604_800_000 - 1), "index_2608");
        assert_eq!(v9.index.table_for(2609 * 604_800_000), "index_2609");
        let non_periodic = PeriodicTableConfig { prefix: "single".into(), ..Default::default() };
        assert_eq!(non_periodic.table_for(day("2020-01-01")), "single");
        assert_eq!(config.chunk_table_for(day("2020-01-16")).unwrap(), "chunks_2611");
        assert!(config.chunk_table_for(0).is_err());
        let week_ms = 604_800_000;
        assert_eq!(v9.index.tables_between(2608 * week_ms, 2610 * week_ms - 1), ["index_2608", "index_2609"]);
        assert_eq!(non_periodic.tables_between(0, 10 * week_ms), ["single"]);
    }

    #[test]
    fn daily_buckets_cover_the_range() {
        let config = SchemaConfig::from_yaml(TWO_PERIODS).unwrap();
        let v9 = &config.configs[0];
        let start = day("2020-01-02") + 3_600_000;
        let end = day("2020-01-03") + 7_200_000;
        let buckets = v9.daily_buckets(start, end, "team-a");
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0].hash_key, "team-a:d18263");
        assert_eq!((buckets[0].from, buckets[0].through), (3_600_000, 86_400_000));
        assert_eq!(buckets[1].hash_key, "team-a:d18264");
        assert_eq!((buckets[1].from, buckets[1].through), (0, 7_200_000));
        // 2020-01-02 is Unix second 1577923200 = 2609 whole weeks.
        assert_eq!(buckets[0].table, "index_2609");
    }
}
