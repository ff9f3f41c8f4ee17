//! Cortex's v9–v11 index layout: which (hash key, range key, value) rows a series' chunk
//! writes, and which queries find them again.
//!
//! Every row lives in a daily bucket (`<user>:d<day>`) of a periodic index table:
//! - metric → series: hash `[shard:]<bucket>:<metric>`, range `<series id>\0\0\0'7'\0`, value `-`;
//! - label → series: hash `[shard:]<bucket>:<metric>:<label name>`,
//!   range `<sha256(value)>\0<series id>\0\0'8'\0`, value the label value;
//! - series → chunk: hash `<bucket>:<series id>`, range `<through hex>\0\0<chunk key>\0'3'\0`;
//! - series → label names (v11): hash `<series id>`, range `\0\0\0'9'\0`, value a JSON list.
//!
//! Series ids and value hashes are unpadded standard base64 of SHA-256; shards (v10+) are the
//! first four bytes of the base64 series id, big endian, modulo `row_shards`, printed `%02d`.

use base64::Engine;
use neocortex_core::{Labels, METRIC_NAME};
use sha2::{Digest, Sha256};

use crate::error::StorageError;
use crate::schema::config::{Bucket, PeriodConfig, SchemaVersion};

/// Range-key type marker of series → chunk rows.
pub const CHUNK_TIME_RANGE_KEY_V3: u8 = b'3';
/// Range-key type marker of metric → series rows.
pub const SERIES_RANGE_KEY_V1: u8 = b'7';
/// Range-key type marker of label → series rows.
pub const LABEL_SERIES_RANGE_KEY_V1: u8 = b'8';
/// Range-key type marker of series → label names rows (v11).
pub const LABEL_NAMES_RANGE_KEY_V1: u8 = b'9';

/// The value of rows whose value carries nothing.
pub const EMPTY_VALUE: &[u8] = b"-";

/// One index row to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexEntry {
    /// The periodic table.
    pub table: String,
    /// The hash key (the row).
    pub hash_value: String,
    /// The range key (the column), sorted bytewise within a row.
    pub range_value: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// One index read: every entry of a row, optionally narrowed by range key and value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexQuery {
    /// The periodic table.
    pub table: String,
    /// The hash key.
    pub hash_value: String,
    /// Only range keys starting with these bytes.
    pub range_value_prefix: Option<Vec<u8>>,
    /// Only range keys at or after these bytes.
    pub range_value_start: Option<Vec<u8>>,
    /// Only entries whose value equals these bytes.
    pub value_equal: Option<Vec<u8>>,
}

impl IndexQuery {
    /// Whether an entry of this query's row satisfies its range and value conditions.
    pub fn accepts(&self, range_value: &[u8], value: &[u8]) -> bool {
        if let Some(prefix) = &self.range_value_prefix {
            if !range_value.starts_with(prefix) {
                return false;
            }
        }
        if let Some(start) = &self.range_value_start {
            if range_value < start.as_slice() {
                return false;
            }
        }
        if let Some(expected) = &self.value_equal {
            if value != expected.as_slice() {
                return false;
            }
        }
        true
    }
}

/// One row returned by a query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexRow {
    /// The range key.
    pub range_value: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// The text form of a label set Cortex hashes into a series id: `name{a="b", c="d"}`, or just
/// the name when it is the only label, with Go-quoted values.
pub fn labels_string(labels: &Labels) -> String {
    let metric_name = labels.metric_name().unwrap_or("");
    if !metric_name.is_empty() && labels.len() == 1 {
        return metric_name.to_string();
    }
    let mut out = String::with_capacity(256);
    out.push_str(metric_name);
    out.push('{');
    let mut first = true;
    for label in labels.iter().filter(|l| l.name != METRIC_NAME) {
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(&label.name);
        out.push('=');
        push_go_quoted(&mut out, &label.value);
    }
    out.push('}');
    out
}

/// Appends `value` quoted as Go's `strconv.Quote` does for printable UTF-8 text.
fn push_go_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Unpadded standard base64 of SHA-256 of `bytes`.
fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(bytes))
}

/// The series id Cortex derives from a label set (base64 SHA-256 of `labels_string`).
pub fn series_id(labels: &Labels) -> String {
    sha256_base64(labels_string(labels).as_bytes())
}

/// The hash of a label value used in label → series range keys.
pub fn value_hash(value: &str) -> String {
    sha256_base64(value.as_bytes())
}

/// `through` (ms within the day) as 8 lowercase hex digits: sortable and free of 0 bytes.
pub fn encode_time(ms_in_day: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in ms_in_day.to_be_bytes().iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

/// A range key: each component followed by a 0 byte, then the type marker and a final 0 byte.
pub fn encode_range_key(key_type: u8, components: &[&[u8]]) -> Vec<u8> {
    let mut out = range_value_prefix(components);
    out.push(key_type);
    out.push(0);
    out
}

/// A range-key prefix: each component followed by a 0 byte.
pub fn range_value_prefix(components: &[&[u8]]) -> Vec<u8> {
    let length = components.iter().map(|c| c.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(length);
    for component in components {
        out.extend_from_slice(component);
        out.push(0);
    }
    out
}

/// Splits a range key into its 0-terminated components (the type marker is the last).
pub fn decode_range_key(range_value: &[u8]) -> Vec<&[u8]> {
    let mut components = Vec::with_capacity(4);
    let mut start = 0;
    for (i, byte) in range_value.iter().enumerate() {
        if *byte == 0 {
            components.push(&range_value[start..i]);
            start = i + 1;
        }
    }
    components
}

/// What a row found by a series or chunk lookup refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedRow<'a> {
    /// A metric → series or label → series row: the series id (and the label value).
    Series {
        /// The series id.
        series_id: &'a [u8],
        /// The label value (label → series rows only).
        label_value: Option<&'a [u8]>,
    },
    /// A series → chunk row: the chunk's external key.
    Chunk {
        /// The chunk key.
        chunk_key: &'a [u8],
    },
}

/// Interprets a row read back from the index.
pub fn parse_row<'a>(range_value: &'a [u8], value: &'a [u8]) -> Result<ParsedRow<'a>, StorageError> {
    let components = decode_range_key(range_value);
    let marker = components.last().copied().unwrap_or_default();
    let bad = || StorageError::corrupt("index row", format!("unexpected range value {range_value:x?}"));
    match (marker, components.len()) {
        ([SERIES_RANGE_KEY_V1], 4) => Ok(ParsedRow::Series { series_id: components[0], label_value: None }),
        ([LABEL_SERIES_RANGE_KEY_V1], 4) => {
            Ok(ParsedRow::Series { series_id: components[1], label_value: Some(value) })
        }
        ([CHUNK_TIME_RANGE_KEY_V3], 4) => Ok(ParsedRow::Chunk { chunk_key: components[2] }),
        _ => Err(bad()),
    }
}

/// The index layout of one period: computes the rows to write and the queries to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSchema {
    /// The layout version.
    pub version: SchemaVersion,
    /// Row shards (0 for v9).
    pub row_shards: u32,
}

impl IndexSchema {
    /// The layout a period uses.
    pub fn for_period(period: &PeriodConfig) -> Self {
        Self { version: period.schema, row_shards: period.effective_row_shards() }
    }

    /// The shard of a series (v10+): first four bytes of its id, big endian, modulo the shards.
    fn shard_prefix(&self, series_id: &str) -> String {
        if self.version == SchemaVersion::V9 || self.row_shards == 0 {
            return String::new();
        }
        let bytes = series_id.as_bytes();
        let mut head = [0u8; 4];
        let available = bytes.len().min(4);
        head[..available].copy_from_slice(&bytes[..available]);
        format!("{:02}:", u32::from_be_bytes(head) % self.row_shards)
    }

    /// Shard prefixes a read must cover (`""` for v9, `00:`…`NN:` for v10+).
    fn all_shard_prefixes(&self) -> Vec<String> {
        if self.version == SchemaVersion::V9 || self.row_shards == 0 {
            return vec![String::new()];
        }
        (0..self.row_shards).map(|shard| format!("{shard:02}:")).collect()
    }

    /// The label rows of a series in one bucket: metric → series, label → series, and in v11
    /// series → label names. `series_id` is `series_id(labels)`.
    pub fn label_write_entries(
        &self,
        bucket: &Bucket,
        metric_name: &str,
        labels: &Labels,
        series_id: &str,
    ) -> Vec<IndexEntry> {
        let shard = self.shard_prefix(series_id);
        let mut entries = Vec::with_capacity(labels.len() + 1);
        entries.push(IndexEntry {
            table: bucket.table.clone(),
            hash_value: format!("{shard}{}:{metric_name}", bucket.hash_key),
            range_value: encode_range_key(SERIES_RANGE_KEY_V1, &[series_id.as_bytes(), b"", b""]),
            value: EMPTY_VALUE.to_vec(),
        });
        if self.version == SchemaVersion::V11 {
            let names: Vec<&str> =
                labels.iter().filter(|l| l.name != METRIC_NAME).map(|l| l.name.as_str()).collect();
            entries.push(IndexEntry {
                table: bucket.table.clone(),
                hash_value: series_id.to_string(),
                range_value: encode_range_key(LABEL_NAMES_RANGE_KEY_V1, &[b"", b"", b""]),
                value: serde_json::to_vec(&names).unwrap_or_default(),
            });
        }
        for label in labels.iter().filter(|l| l.name != METRIC_NAME) {
            entries.push(IndexEntry {
                table: bucket.table.clone(),
                hash_value: format!("{shard}{}:{metric_name}:{}", bucket.hash_key, label.name),
                range_value: encode_range_key(
                    LABEL_SERIES_RANGE_KEY_V1,
                    &[value_hash(&label.value).as_bytes(), series_id.as_bytes(), b""],
                ),
                value: label.value.as_bytes().to_vec(),
            });
        }
        entries
    }

    /// The series → chunk row of one chunk in one bucket.
    pub fn chunk_write_entry(&self, bucket: &Bucket, series_id: &str, chunk_key: &str) -> IndexEntry {
        IndexEntry {
            table: bucket.table.clone(),
            hash_value: format!("{}:{series_id}", bucket.hash_key),
            range_value: encode_range_key(
                CHUNK_TIME_RANGE_KEY_V3,
                &[&encode_time(bucket.through), b"", chunk_key.as_bytes()],
            ),
            // v9 writes no value; v10 and later write "-".
            value: if self.version == SchemaVersion::V9 { Vec::new() } else { EMPTY_VALUE.to_vec() },
        }
    }

    /// Queries for every series of a metric in a bucket.
    pub fn metric_queries(&self, bucket: &Bucket, metric_name: &str) -> Vec<IndexQuery> {
        self.all_shard_prefixes()
            .into_iter()
            .map(|shard| IndexQuery {
                table: bucket.table.clone(),
                hash_value: format!("{shard}{}:{metric_name}", bucket.hash_key),
                ..Default::default()
            })
            .collect()
    }

    /// Queries for every series of a metric having label `label_name`, with its values.
    pub fn metric_label_queries(
        &self,
        bucket: &Bucket,
        metric_name: &str,
        label_name: &str,
    ) -> Vec<IndexQuery> {
        self.all_shard_prefixes()
            .into_iter()
            .map(|shard| IndexQuery {
                table: bucket.table.clone(),
                hash_value: format!("{shard}{}:{metric_name}:{label_name}", bucket.hash_key),
                ..Default::default()
            })
            .collect()
    }

    /// Queries for the series of a metric whose label `label_name` equals `label_value`.
    pub fn metric_label_value_queries(
        &self,
        bucket: &Bucket,
        metric_name: &str,
        label_name: &str,
        label_value: &str,
    ) -> Vec<IndexQuery> {
        let hash = value_hash(label_value);
        self.metric_label_queries(bucket, metric_name, label_name)
            .into_iter()
            .map(|query| IndexQuery {
                range_value_start: Some(range_value_prefix(&[hash.as_bytes()])),
                value_equal: Some(label_value.as_bytes().to_vec()),
                ..query
            })
            .collect()
    }

    /// The query for a series' chunks in a bucket whose `through` is at or after the bucket's
    /// `from`.
    pub fn chunks_for_series_query(&self, bucket: &Bucket, series_id: &str) -> IndexQuery {
        IndexQuery {
            table: bucket.table.clone(),
            hash_value: format!("{}:{series_id}", bucket.hash_key),
            range_value_start: Some(range_value_prefix(&[&encode_time(bucket.from)])),
            ..Default::default()
        }
    }

    /// The query for a series' label names (v11 only).
    pub fn label_names_for_series_query(&self, bucket: &Bucket, series_id: &str) -> Option<IndexQuery> {
        (self.version == SchemaVersion::V11).then(|| IndexQuery {
            table: bucket.table.clone(),
            hash_value: series_id.to_string(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::config::SchemaConfig;

    // Expected ids computed independently (Python hashlib/base64) from
    // `up{instance="a:9100", job="node"}`, "a:9100" and "node".
    const SERIES_ID: &str = "QRd8BU9c+1gzuyTIY0dTSy4JltJ1VJc7U9bUJhZqeFs";
    const HASH_NODE: &str = "VF6lOEYQA+/cjIHCRFMbAD9vJs/M9sAHOzI5/e30lEY";
    const HASH_INSTANCE: &str = "/cG9vyvbPrJeQscOsO/3HB9mqSZLPhdEzX3cguCmf/c";
    const CHUNK_KEY: &str = "team-a/abc:1:2:3";

    fn labels() -> Labels {
        Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "a:9100")])
    }

    fn period(version: &str) -> PeriodConfig {
        let yaml = format!("configs: [{{from: 2020-01-01, store: redb, schema: {version}, index: {{prefix: index_, period: 1w}}}}]");
        SchemaConfig::from_yaml(&yaml).unwrap().configs.remove(0)
    }

    fn row(hash: &str, range: &[&[u8]], value: &[u8]) -> IndexEntry {
        IndexEntry {
            table: "index_2609".into(),
            hash_value: hash.into(),
            range_value: range.concat(),
            value: value.to_vec(),
        }
    }

    fn written(version: &str) -> Vec<IndexEntry> {
        let period = period(version);
        let schema = IndexSchema::for_period(&period);
        let day_start = 18_263 * 86_400_000;
        let buckets = period.daily_buckets(day_start, day_start + 86_400_000 - 1, "team-a");
        assert_eq!(buckets.len(), 1);
        let mut rows = schema.label_write_entries(&buckets[0], "up", &labels(), &series_id(&labels()));
        rows.push(schema.chunk_write_entry(&buckets[0], &series_id(&labels()), CHUNK_KEY));
        rows
    }

    fn sid() -> &'static [u8] {
        SERIES_ID.as_bytes()
    }

    #[test]
    fn series_id_and_labels_string() {
        assert_eq!(labels_string(&labels()), r#"up{instance="a:9100", job="node"}"#);
        assert_eq!(labels_string(&Labels::from_pairs([("__name__", "up")])), "up");
        assert_eq!(labels_string(&Labels::from_pairs([("a", "x\"y\n")])), r#"{a="x\"y\n"}"#);
        assert_eq!(series_id(&labels()), SERIES_ID);
        assert_eq!(value_hash("node"), HASH_NODE);
    }

    #[test]
    fn golden_v9_rows() {
        let expected = vec![
            row("team-a:d18263:up", &[sid(), b"\0\0\0", b"7\0"], b"-"),
            row(
                "team-a:d18263:up:instance",
                &[HASH_INSTANCE.as_bytes(), b"\0", sid(), b"\0\0", b"8\0"],
                b"a:9100",
            ),
            row("team-a:d18263:up:job", &[HASH_NODE.as_bytes(), b"\0", sid(), b"\0\0", b"8\0"], b"node"),
            row(
                &format!("team-a:d18263:{SERIES_ID}"),
                &[b"05265bff\0\0", CHUNK_KEY.as_bytes(), b"\0", b"3\0"],
                b"",
            ),
        ];
        assert_eq!(written("v9"), expected);
    }

    #[test]
    fn golden_v10_rows_are_sharded() {
        // The first four bytes of the series id ("QRd8") big endian, modulo 16, is shard 8.
        let expected = vec![
            row("08:team-a:d18263:up", &[sid(), b"\0\0\0", b"7\0"], b"-"),
            row(
                "08:team-a:d18263:up:instance",
                &[HASH_INSTANCE.as_bytes(), b"\0", sid(), b"\0\0", b"8\0"],
                b"a:9100",
            ),
            row("08:team-a:d18263:up:job", &[HASH_NODE.as_bytes(), b"\0", sid(), b"\0\0", b"8\0"], b"node"),
            row(
                &format!("team-a:d18263:{SERIES_ID}"),
                &[b"05265bff\0\0", CHUNK_KEY.as_bytes(), b"\0", b"3\0"],
                b"-",
            ),
        ];
        assert_eq!(written("v10"), expected);
    }

    #[test]
    fn golden_v11_rows_add_label_names() {
        let rows = written("v11");
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[1], row(SERIES_ID, &[b"\0\0\0", b"9\0"], br#"["instance","job"]"#));
        assert_eq!(rows[0].hash_value, "08:team-a:d18263:up");
    }

    #[test]
    fn read_queries_find_written_rows() {
        for version in ["v9", "v10", "v11"] {
            let period = period(version);
            let schema = IndexSchema::for_period(&period);
            let bucket = &period.daily_buckets(18_263 * 86_400_000, 18_263 * 86_400_000 + 1000, "team-a")[0];
            let rows = written(version);
            let hits = |query: &IndexQuery| {
                rows.iter()
                    .filter(|r| r.hash_value == query.hash_value && query.accepts(&r.range_value, &r.value))
                    .count()
            };
            assert_eq!(schema.metric_queries(bucket, "up").iter().map(hits).sum::<usize>(), 1, "{version}");
            let by_value = schema.metric_label_value_queries(bucket, "up", "job", "node");
            assert_eq!(by_value.iter().map(hits).sum::<usize>(), 1, "{version}");
            let wrong_value = schema.metric_label_value_queries(bucket, "up", "job", "api");
            assert_eq!(wrong_value.iter().map(hits).sum::<usize>(), 0, "{version}");
            let chunks = schema.chunks_for_series_query(bucket, SERIES_ID);
            assert_eq!(hits(&chunks), 1, "{version}");
            let chunk_row = rows.iter().find(|r| r.hash_value == chunks.hash_value).unwrap();
            assert_eq!(
                parse_row(&chunk_row.range_value, &chunk_row.value).unwrap(),
                ParsedRow::Chunk { chunk_key: CHUNK_KEY.as_bytes() }
            );
        }
    }
}
