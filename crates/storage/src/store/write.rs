//! The write path: chunk objects first, then one batch of index rows, so the index never
//! points at an object that does not exist.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use neocortex_chunk::XorChunk;
use neocortex_core::{Labels, Sample, TenantId};

use crate::chunk_key::{fingerprint, ChunkRef};
use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::object_format::{self, TimestampsRef};
use crate::schema::entries::{series_id, IndexEntry, IndexSchema};
use crate::store::shared_timestamps::{self, Placement};
use crate::store::ChunkStore;

/// The position of `client` in `clients` (by identity), adding it if new: one index batch per
/// distinct client.
fn index_slot(clients: &mut Vec<Arc<dyn IndexClient>>, client: &Arc<dyn IndexClient>) -> usize {
    match clients.iter().position(|known| Arc::ptr_eq(known, client)) {
        Some(position) => position,
        None => {
            clients.push(Arc::clone(client));
            clients.len() - 1
        }
    }
}

/// One series and the chunks to store for it; they become one object.
#[derive(Debug, Clone)]
pub struct SeriesChunks {
    /// The series (must have a metric name).
    pub labels: Labels,
    /// Its chunks; empty chunks are skipped.
    pub chunks: Vec<XorChunk>,
}

/// What a put wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutStats {
    /// Objects written: one per series, plus the timestamps objects.
    pub objects: usize,
    /// How many of `objects` are timestamps objects (a column several series share).
    pub timestamp_objects: usize,
    /// Bytes of those objects.
    pub object_bytes: usize,
    /// Index rows written (after dedupe).
    pub index_rows: usize,
    /// Bytes of those rows (hash key + range key + value).
    pub index_bytes: usize,
}

/// The samples of `chunks` in time order; where chunks overlap, the first sample at a timestamp
/// is kept (as reads do).
fn merged_samples(chunks: &[XorChunk]) -> Vec<Sample> {
    let mut samples: Vec<Sample> = Vec::with_capacity(chunks.iter().map(XorChunk::num_samples).sum());
    for chunk in chunks {
        samples.extend(chunk.iter().map(|(timestamp_ms, value)| Sample { timestamp_ms, value }));
    }
    if samples.windows(2).any(|pair| pair[0].timestamp_ms >= pair[1].timestamp_ms) {
        samples.sort_by_key(|s| s.timestamp_ms);
        samples.dedup_by_key(|s| s.timestamp_ms);
    }
    samples
}

/// The objects of one flush bound for one object client.
type ClientBatch = (Arc<dyn ObjectClient>, Vec<(String, Bytes)>);

struct PendingObject {
    key: String,
    data: Bytes,
    /// The object client of the period holding the chunk's first sample.
    client: Arc<dyn ObjectClient>,
}

impl ChunkStore {
    /// Stores one series' chunks.
    pub async fn put(
        &self,
        tenant: &TenantId,
        labels: &Labels,
        chunks: &[XorChunk],
    ) -> Result<PutStats, StorageError> {
        let series = SeriesChunks { labels: labels.clone(), chunks: chunks.to_vec() };
        self.put_many(tenant, std::slice::from_ref(&series)).await
    }

    /// Stores the chunks of many series with one index batch.
    pub async fn put_many(
        &self,
        tenant: &TenantId,
        series: &[SeriesChunks],
    ) -> Result<PutStats, StorageError> {
        let user = tenant.as_str();
        let mut objects = Vec::new();
        let mut label_rows: Vec<(String, usize, Vec<IndexEntry>)> = Vec::new();
        let mut index_clients: Vec<Arc<dyn IndexClient>> = Vec::new();
        // Rows go to the index client of the period they belong to.
        let mut chunk_rows: Vec<(usize, IndexEntry)> = Vec::new();
        // Every sample of a series that this flush hands over goes into one object.
        let mut stored: Vec<(&SeriesChunks, &str, Vec<f64>)> = Vec::with_capacity(series.len());
        let mut times: Vec<Vec<i64>> = Vec::with_capacity(series.len());
        for one in series {
            let metric_name =
                one.labels.metric_name().filter(|n| !n.is_empty()).ok_or(StorageError::MissingMetricName)?;
            let samples = merged_samples(&one.chunks);
            if samples.is_empty() {
                continue;
            }
            times.push(samples.iter().map(|s| s.timestamp_ms).collect());
            stored.push((one, metric_name, samples.iter().map(|s| s.value).collect()));
        }
        let (placements, timestamps_objects) =
            shared_timestamps::plan(&self.timestamps_memo, user, &times, self.body_encoding);
        let written_timestamps: Vec<(TimestampsRef, usize)> =
            timestamps_objects.iter().map(|object| (object.reference, object.len)).collect();
        for object in timestamps_objects {
            let reference = object.reference;
            let key = reference.chunk_ref(user).external_key();
            let client = Arc::clone(&self.clients_at(reference.from_ms).objects);
            objects.push(PendingObject { key, data: Bytes::from(object.data), client });
        }
        let timestamp_objects = objects.len();
        for (((one, metric_name, values), series_times), placement) in
            stored.into_iter().zip(&times).zip(&placements)
        {
            let id = series_id(&one.labels);
            let series_fingerprint = fingerprint(&one.labels);
            let (Some(&from_ms), Some(&through_ms)) = (series_times.first(), series_times.last()) else {
                continue;
            };
            let shared = match placement {
                Placement::Inline => None,
                Placement::Shared(reference) => Some(reference),
            };
            let data =
                object_format::encode_series(&one.labels, series_times, &values, shared, self.body_encoding);
            let chunk_ref = ChunkRef {
                user: user.to_string(),
                fingerprint: series_fingerprint,
                from_ms,
                through_ms,
                checksum: object_format::checksum(&data),
            };
            let key = chunk_ref.external_key();
            for slice in self.schema.periods_in_range(from_ms, through_ms) {
                let schema = IndexSchema::for_period(slice.period);
                let client = index_slot(&mut index_clients, &self.clients_of(slice.period).index);
                for bucket in slice.period.daily_buckets(slice.from_ms, slice.through_ms, user) {
                    let dedupe_key = format!("{}\0{}\0{id}", bucket.table, bucket.hash_key);
                    label_rows.push((
                        dedupe_key,
                        client,
                        schema.label_write_entries(&bucket, metric_name, &one.labels, &id),
                    ));
                    chunk_rows.push((client, schema.chunk_write_entry(&bucket, &id, &key)));
                }
            }
            let client = Arc::clone(&self.clients_at(from_ms).objects);
            objects.push(PendingObject { key, data: Bytes::from(data), client });
        }
        if objects.is_empty() {
            return Ok(PutStats::default());
        }

        let mut stats = PutStats {
            objects: objects.len(),
            timestamp_objects,
            object_bytes: objects.iter().map(|o| o.data.len()).sum(),
            ..PutStats::default()
        };
        // One `put_many` per object client (periods may name different stores).
        let mut groups: Vec<ClientBatch> = Vec::new();
        for object in objects {
            match groups.iter_mut().find(|(known, _)| Arc::ptr_eq(known, &object.client)) {
                Some((_, batch)) => batch.push((object.key, object.data)),
                None => groups.push((object.client, vec![(object.key, object.data)])),
            }
        }
        for (client, batch) in groups {
            client.put_many(batch, self.object_concurrency).await?;
        }
        self.timestamps_memo.remember(user, written_timestamps);

        let dedupe_keys: Vec<String> = label_rows.iter().map(|(key, _, _)| key.clone()).collect();
        let missing = self.dedupe.missing(&dedupe_keys).await;
        let mut seen = HashSet::new();
        let mut batches: Vec<Vec<IndexEntry>> = vec![Vec::new(); index_clients.len()];
        let mut written_keys = Vec::new();
        for ((key, client, rows), must_write) in label_rows.into_iter().zip(missing) {
            if must_write && seen.insert(key.clone()) {
                batches[client].extend(rows);
                written_keys.push(key);
            }
        }
        for (client, row) in chunk_rows {
            batches[client].push(row);
        }
        for (client, entries) in index_clients.iter().zip(batches) {
            stats.index_rows += entries.len();
            stats.index_bytes += entries
                .iter()
                .map(|e| e.hash_value.len() + e.range_value.len() + e.value.len())
                .sum::<usize>();
            client.batch_write(entries).await?;
        }
        self.dedupe.store(&written_keys).await;
        tracing::debug!(user, objects = stats.objects, index_rows = stats.index_rows, "stored chunks");
        Ok(stats)
    }
}
