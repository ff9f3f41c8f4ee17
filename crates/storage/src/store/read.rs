//! The read path: matchers → series ids (per bucket, intersected across matchers) → chunk keys
//! → objects (fetched concurrently, checksum verified) → samples merged per series.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use neocortex_core::matcher::matches_all;
use neocortex_core::{
    Labels, LazySeries, MatchOp, Matcher, QueryError, Sample, SampleSource, Series, SeriesSamples, TenantId,
    METRIC_NAME,
};

use crate::chunk_key::ChunkRef;
use crate::error::{StorageError, QUERY_MUST_CONTAIN_METRIC_NAME};
use crate::index::IndexClient;
use crate::object::ObjectClient;
use crate::object_format::{self, OpenedObject, TimestampsRef};
use crate::schema::config::Bucket;
use crate::schema::day::MS_PER_DAY;
use crate::schema::entries::{parse_row, IndexQuery, IndexSchema, ParsedRow};
use crate::store::kept_lookups::LookupKey;
use crate::store::ChunkStore;

/// The metric names a read must look up in the index: the value of an equality matcher on
/// `__name__`, or else the names of a `__name__=~"a|b|c"` matcher whose regex is an
/// alternation of literal names (how dashboards select a few metrics at once; Prometheus's
/// regexes are anchored, so such a regex matches exactly those names). `None` when the
/// matchers name no metric the index can look up.
fn metric_names(matchers: &[Matcher]) -> Option<Vec<String>> {
    if let Some(equal) = matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal) {
        return Some(vec![equal.value.clone()]);
    }
    let regex = matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::RegexMatch)?;
    literal_alternatives(&regex.value)
}

/// The alternatives of `a|b|c` when each is a non-empty literal (no regex syntax), sorted and
/// unique; `None` for any other regex.
fn literal_alternatives(regex: &str) -> Option<Vec<String>> {
    const SYNTAX: &[char] = &['.', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '\\'];
    let names: BTreeSet<String> = regex
        .split('|')
        .map(|alternative| {
            let literal = !alternative.is_empty() && !alternative.contains(SYNTAX);
            literal.then(|| alternative.to_string())
        })
        .collect::<Option<_>>()?;
    Some(names.into_iter().collect())
}

impl ChunkStore {
    /// The series matching every matcher with their samples in `[start_ms, end_ms]`, sorted by
    /// labels, identical samples from overlapping chunks removed. Fails with Cortex's "query
    /// must contain metric name" when the matchers name no metric (neither `__name__="…"` nor
    /// `__name__=~"a|b"` with literal alternatives).
    pub async fn select(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let mut result = Vec::new();
        for (labels, samples) in self.select_stored(tenant, start_ms, end_ms, matchers).await? {
            let mut decoded = Vec::new();
            samples.decode(&mut decoded)?;
            if !decoded.is_empty() {
                result.push(Series { labels, samples: decoded });
            }
        }
        Ok(result)
    }

    /// As `select`, with each series' samples left encoded until the reader decodes them (see
    /// `SampleSource`), so a query holds compressed objects instead of every sample and decodes
    /// series on its own threads. A series whose objects hold no sample in the range may be
    /// returned with no samples.
    pub async fn select_lazy(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, StorageError> {
        Ok(self
            .select_stored(tenant, start_ms, end_ms, matchers)
            .await?
            .into_iter()
            .map(|(labels, samples)| LazySeries { labels, samples: SeriesSamples::Lazy(Arc::new(samples)) })
            .collect())
    }

    /// The matching series, sorted by labels, each with its opened objects.
    async fn select_stored(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, StoredSamples)>, StorageError> {
        let Some(names) = metric_names(matchers) else {
            return Err(StorageError::BadQuery(QUERY_MUST_CONTAIN_METRIC_NAME.to_string()));
        };
        let mut objects = self.fetch_named(tenant, start_ms, end_ms, &names, matchers).await?;
        // Sorted by series and time range, then grouped.
        objects.sort_by_cached_key(|fetched| {
            (label_sort_key(&fetched.object.labels), fetched.from_ms, fetched.through_ms)
        });
        let mut series: Vec<(Labels, StoredSamples)> = Vec::new();
        for fetched in objects {
            match series.last_mut() {
                Some((labels, stored)) if *labels == fetched.object.labels => {
                    stored.objects.push(fetched.object)
                }
                _ => {
                    let labels = fetched.object.labels.clone();
                    series.push((labels, StoredSamples { objects: vec![fetched.object], start_ms, end_ms }));
                }
            }
        }
        Ok(series)
    }

    /// Label sets of the series matching every matcher with chunks overlapping the range.
    /// Without a metric-name matcher the store cannot enumerate series and answers nothing
    /// (the ingesters answer such metadata queries).
    pub async fn series(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let Some(names) = metric_names(matchers) else {
            return Ok(Vec::new());
        };
        let objects = self.fetch_named(tenant, start_ms, end_ms, &names, matchers).await?;
        let unique: BTreeSet<Labels> =
            objects.into_iter().map(|object| object.object.labels.clone()).collect();
        Ok(unique.into_iter().collect())
    }

    /// Label names of the matching series, sorted and unique.
    pub async fn label_names(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let series = self.series(tenant, start_ms, end_ms, matchers).await?;
        let names: BTreeSet<String> =
            series.iter().flat_map(|labels| labels.iter().map(|l| l.name.clone())).collect();
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` over the matching series, sorted and unique.
    pub async fn label_values(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let series = self.series(tenant, start_ms, end_ms, matchers).await?;
        let values: BTreeSet<String> = series
            .iter()
            .filter_map(|labels| labels.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        Ok(values.into_iter().collect())
    }

    /// The chunks of matching series overlapping the range, sorted and unique.
    pub async fn chunk_refs(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        metric_name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<ChunkRef>, StorageError> {
        let user = tenant.as_str();
        // Matchers that accept an empty value cannot be answered by the index (a series lacking
        // the label has no row); they are applied to the fetched chunks' labels instead.
        let index_matchers: Vec<&Matcher> =
            matchers.iter().filter(|m| m.name != METRIC_NAME && !m.matches_empty()).collect();
        let mut refs = Vec::new();
        let mut keep_overlapping = |chunks: &[ChunkRef]| {
            refs.extend(chunks.iter().filter(|c| c.overlaps(start_ms, end_ms)).cloned())
        };
        for slice in self.schema.periods_in_range(start_ms, end_ms) {
            let schema = IndexSchema::for_period(slice.period);
            let index = &*self.clients_of(slice.period).index;
            let buckets = slice.period.daily_buckets(slice.from_ms, slice.through_ms, user);
            // Taken before the lookups run, so that a write during them makes what they found
            // stale instead of kept.
            let generation = index.write_generation().filter(|_| self.kept_lookups.enabled());
            let Some(generation) = generation else {
                for chunks in
                    self.lookup_chunks(user, index, &schema, &buckets, metric_name, &index_matchers).await?
                {
                    keep_overlapping(&chunks);
                }
                continue;
            };
            // Kept lookups cover whole days, so the next query's range finds them too.
            let period = self.period_position(slice.period);
            let mut missing: Vec<(LookupKey, Bucket)> = Vec::new();
            for bucket in buckets {
                let key = LookupKey::new(period, &bucket, metric_name, &index_matchers);
                match self.kept_lookups.get(&key, generation).await {
                    Some(chunks) => keep_overlapping(&chunks),
                    None => missing.push((key, Bucket { from: 0, through: MS_PER_DAY as u32, ..bucket })),
                }
            }
            if missing.is_empty() {
                continue;
            }
            let whole_days: Vec<Bucket> = missing.iter().map(|(_, bucket)| bucket.clone()).collect();
            let found =
                self.lookup_chunks(user, index, &schema, &whole_days, metric_name, &index_matchers).await?;
            for ((key, _), chunks) in missing.into_iter().zip(found) {
                let chunks: Arc<[ChunkRef]> = chunks.into();
                keep_overlapping(&chunks);
                self.kept_lookups.insert(key, generation, chunks).await;
            }
        }
        refs.sort_unstable();
        refs.dedup();
        Ok(refs)
    }

    /// Per bucket, the chunks (of tenant `user`) of the series that `metric_name` and `matchers`
    /// select there, sorted and unique: the series ids of all buckets in one round of index
    /// queries, then their chunk rows in another.
    async fn lookup_chunks(
        &self,
        user: &str,
        index: &dyn IndexClient,
        schema: &IndexSchema,
        buckets: &[Bucket],
        metric_name: &str,
        matchers: &[&Matcher],
    ) -> Result<Vec<Vec<ChunkRef>>, StorageError> {
        let series_ids = self.lookup_series(index, schema, buckets, metric_name, matchers).await?;
        // A series' chunk rows are in the buckets where its label rows are (both are written
        // for every day a chunk spans), so each bucket's ids are looked up in that bucket only.
        let (owners, queries) = queries_per_bucket(buckets, |position, bucket| {
            series_ids[position].iter().map(|id| schema.chunks_for_series_query(bucket, id)).collect()
        });
        let mut chunks: Vec<Vec<ChunkRef>> = vec![Vec::new(); buckets.len()];
        for (rows, position) in index.query(queries).await?.into_iter().zip(owners) {
            for row in rows {
                if let ParsedRow::Chunk { chunk_key } = parse_row(&row.range_value, &row.value)? {
                    chunks[position].push(ChunkRef::parse(user, &String::from_utf8_lossy(chunk_key))?);
                }
            }
        }
        for bucket_chunks in &mut chunks {
            bucket_chunks.sort_unstable();
            bucket_chunks.dedup();
        }
        Ok(chunks)
    }

    /// Per bucket, the ids of the series selected there, sorted: the union over the metric's
    /// shards of each matcher's ids, intersected across matchers (every series of the metric
    /// when there is no matcher). All buckets' queries of a matcher go in one round.
    async fn lookup_series(
        &self,
        index: &dyn IndexClient,
        schema: &IndexSchema,
        buckets: &[Bucket],
        metric_name: &str,
        matchers: &[&Matcher],
    ) -> Result<Vec<Vec<String>>, StorageError> {
        if matchers.is_empty() {
            let ids = self
                .series_ids_from(index, buckets, |bucket| schema.metric_queries(bucket, metric_name), None)
                .await?;
            return Ok(ids.into_iter().map(sorted).collect());
        }
        let mut result: Option<Vec<HashSet<String>>> = None;
        for matcher in matchers {
            let queries_of = |bucket: &Bucket| match matcher.op {
                MatchOp::Equal => {
                    schema.metric_label_value_queries(bucket, metric_name, &matcher.name, &matcher.value)
                }
                _ => schema.metric_label_queries(bucket, metric_name, &matcher.name),
            };
            let ids = self.series_ids_from(index, buckets, queries_of, Some(matcher)).await?;
            result = Some(match result {
                None => ids,
                Some(previous) => previous
                    .into_iter()
                    .zip(ids)
                    .map(|(previous, ids)| previous.intersection(&ids).cloned().collect())
                    .collect(),
            });
            if result.as_ref().is_some_and(|per_bucket| per_bucket.iter().all(HashSet::is_empty)) {
                break;
            }
        }
        Ok(result.unwrap_or_default().into_iter().map(sorted).collect())
    }

    /// Per bucket, the series ids in the rows of the queries `queries_of(bucket)`, keeping only
    /// rows whose label value `matcher` accepts (when given).
    async fn series_ids_from(
        &self,
        index: &dyn IndexClient,
        buckets: &[Bucket],
        queries_of: impl Fn(&Bucket) -> Vec<IndexQuery>,
        matcher: Option<&Matcher>,
    ) -> Result<Vec<HashSet<String>>, StorageError> {
        let (owners, queries) = queries_per_bucket(buckets, |_, bucket| queries_of(bucket));
        let mut ids = vec![HashSet::new(); buckets.len()];
        for (rows, position) in index.query(queries).await?.into_iter().zip(owners) {
            for row in rows {
                let ParsedRow::Series { series_id, label_value } = parse_row(&row.range_value, &row.value)?
                else {
                    continue;
                };
                if let (Some(matcher), Some(value)) = (matcher, label_value) {
                    if !matcher.matches(&String::from_utf8_lossy(value)) {
                        continue;
                    }
                }
                ids[position].insert(String::from_utf8_lossy(series_id).into_owned());
            }
        }
        Ok(ids)
    }

    /// Fetches, verifies and decodes the objects of matching series, keeping those whose labels
    /// satisfy every matcher.
    /// The matching chunk objects of every metric in `names` (one index lookup per name).
    async fn fetch_named(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        names: &[String],
        matchers: &[Matcher],
    ) -> Result<Vec<FetchedObject>, StorageError> {
        let mut objects = Vec::new();
        for name in names {
            objects.extend(self.fetch_matching(tenant, start_ms, end_ms, name, matchers).await?);
        }
        Ok(objects)
    }

    async fn fetch_matching(
        &self,
        tenant: &TenantId,
        start_ms: i64,
        end_ms: i64,
        metric_name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<FetchedObject>, StorageError> {
        let refs = self.chunk_refs(tenant, start_ms, end_ms, metric_name, matchers).await?;
        let mut objects = Vec::with_capacity(refs.len());
        let mut missing = Vec::new();
        for chunk in refs {
            match self.opened_objects.get(&chunk, start_ms, end_ms).await {
                Some(object) => {
                    if matches_all(matchers, &object.labels) {
                        objects.push(FetchedObject {
                            from_ms: chunk.from_ms,
                            through_ms: chunk.through_ms,
                            object,
                        });
                    }
                }
                None => missing.push(chunk),
            }
        }
        if missing.is_empty() {
            return Ok(objects);
        }
        let fetched = self.fetch_objects(missing).await?;
        let mut opened = open_all(fetched, start_ms, end_ms).await?;
        opened.retain(|opened| matches_all(matchers, &opened.object.labels));
        self.attach_shared_timestamps(tenant.as_str(), &mut opened).await?;
        for NewlyOpened { chunk, object } in opened {
            let (from_ms, through_ms) = (chunk.from_ms, chunk.through_ms);
            let object = Arc::new(object);
            self.opened_objects.insert(chunk, Arc::clone(&object)).await;
            objects.push(FetchedObject { from_ms, through_ms, object });
        }
        Ok(objects)
    }

    /// Fetches the timestamps objects that objects sharing timestamps name, each once (the
    /// objects of one scrape target name the same one), verifies and decodes them, and attaches
    /// them.
    async fn attach_shared_timestamps(
        &self,
        user: &str,
        objects: &mut [NewlyOpened],
    ) -> Result<(), StorageError> {
        let wanted: HashSet<TimestampsRef> =
            objects.iter().filter_map(|object| object.object.missing_timestamps()).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut timestamps: HashMap<TimestampsRef, Arc<[i64]>> = HashMap::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for reference in wanted {
            match self.decoded_timestamps.get(user, reference).await {
                Some(known) => {
                    timestamps.insert(reference, known);
                }
                None => missing.push(reference),
            }
        }
        let refs: Vec<ChunkRef> = missing.into_iter().map(|reference| reference.chunk_ref(user)).collect();
        for (chunk, data) in self.fetch_objects(refs).await? {
            verify_checksum(&chunk, &data, "timestamps object")?;
            let reference = TimestampsRef::of_chunk(&chunk);
            let decoded: Arc<[i64]> = object_format::decode_timestamps_object(&data)?.into();
            self.decoded_timestamps.insert(user, reference, Arc::clone(&decoded)).await;
            timestamps.insert(reference, decoded);
        }
        for object in objects {
            if let Some(reference) = object.object.missing_timestamps() {
                let shared = timestamps.get(&reference).ok_or_else(|| {
                    StorageError::corrupt("chunk object", "its timestamps object was not fetched".to_string())
                })?;
                object.object.attach_timestamps(Arc::clone(shared))?;
            }
        }
        Ok(())
    }
}

impl ChunkStore {
    /// The stored bytes of `refs`: one `get_many` per period object client, so table-based
    /// stores (DynamoDB, Bigtable) read in batches.
    async fn fetch_objects(&self, refs: Vec<ChunkRef>) -> Result<Vec<(ChunkRef, Bytes)>, StorageError> {
        let mut groups: Vec<(Arc<dyn ObjectClient>, Vec<ChunkRef>)> = Vec::new();
        for chunk in refs {
            let client = &self.clients_at(chunk.from_ms).objects;
            match groups.iter_mut().find(|(known, _)| Arc::ptr_eq(known, client)) {
                Some((_, chunks)) => chunks.push(chunk),
                None => groups.push((Arc::clone(client), vec![chunk])),
            }
        }
        let mut fetched = Vec::new();
        for (client, chunks) in groups {
            let keys: Vec<String> = chunks.iter().map(ChunkRef::external_key).collect();
            let data = client.get_many(&keys, self.object_concurrency).await?;
            fetched.extend(chunks.into_iter().zip(data));
        }
        Ok(fetched)
    }
}

/// Objects opened per blocking task: enough to make a task worth its hand-off.
const OBJECTS_PER_OPEN_TASK: usize = 512;

/// Verifies and opens fetched objects (checksum, decompression, labels) on the blocking pool, a
/// batch per task, so a large read uses every core instead of the one polling the fetches.
async fn open_all(
    fetched: Vec<(ChunkRef, Bytes)>,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<NewlyOpened>, StorageError> {
    if fetched.len() <= OBJECTS_PER_OPEN_TASK {
        return fetched
            .into_iter()
            .map(|(chunk, data)| open_object(chunk, &data, start_ms, end_ms))
            .collect();
    }
    let mut fetched = fetched.into_iter();
    let mut tasks = Vec::new();
    loop {
        let batch: Vec<(ChunkRef, Bytes)> = fetched.by_ref().take(OBJECTS_PER_OPEN_TASK).collect();
        if batch.is_empty() {
            break;
        }
        tasks.push(tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|(chunk, data)| open_object(chunk, &data, start_ms, end_ms))
                .collect::<Result<Vec<_>, _>>()
        }));
    }
    let mut objects = Vec::new();
    for task in tasks {
        let opened = task
            .await
            .map_err(|err| StorageError::backend("chunk store", format!("opening chunk objects: {err}")))?;
        objects.extend(opened?);
    }
    Ok(objects)
}

/// Checks an object against the checksum its key names and reads its labels, decompressing
/// what the range from `start_ms` to `end_ms` needs.
fn open_object(
    chunk: ChunkRef,
    data: &[u8],
    start_ms: i64,
    end_ms: i64,
) -> Result<NewlyOpened, StorageError> {
    verify_checksum(&chunk, data, "chunk object")?;
    let object = object_format::open_range(data, start_ms, end_ms)?;
    Ok(NewlyOpened { chunk, object })
}

/// Checks fetched bytes against the checksum their key names.
fn verify_checksum(chunk: &ChunkRef, data: &[u8], what: &'static str) -> Result<(), StorageError> {
    let actual = object_format::checksum(data);
    if actual != chunk.checksum {
        return Err(StorageError::corrupt(
            what,
            format!("checksum mismatch for {}: object has {actual:x}", chunk.external_key()),
        ));
    }
    Ok(())
}

/// An object read from the object store (or the chunk cache), verified and opened.
struct NewlyOpened {
    chunk: ChunkRef,
    object: OpenedObject,
}

/// An opened object with the time range its key names.
struct FetchedObject {
    from_ms: i64,
    through_ms: i64,
    object: Arc<OpenedObject>,
}

/// The queries `queries_of(position, bucket)` of every bucket in one list, with the position of
/// the bucket each belongs to.
fn queries_per_bucket(
    buckets: &[Bucket],
    mut queries_of: impl FnMut(usize, &Bucket) -> Vec<IndexQuery>,
) -> (Vec<usize>, Vec<IndexQuery>) {
    let mut owners = Vec::new();
    let mut queries = Vec::new();
    for (position, bucket) in buckets.iter().enumerate() {
        for query in queries_of(position, bucket) {
            owners.push(position);
            queries.push(query);
        }
    }
    (owners, queries)
}

/// `ids` sorted.
fn sorted(ids: HashSet<String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    ids
}

/// A byte string that sorts as `labels` do: each name and value with bytes 0 and 1 escaped (as
/// 1 0 and 1 1) and ended by a 0, so no string's key is a prefix of another's. Sorting thousands
/// of series by these compares one slice per pair instead of label by label.
fn label_sort_key(labels: &Labels) -> Vec<u8> {
    let mut key = Vec::with_capacity(labels.iter().map(|l| l.name.len() + l.value.len() + 2).sum());
    for label in labels.iter() {
        for text in [&label.name, &label.value] {
            for &byte in text.as_bytes() {
                if byte <= 1 {
                    key.push(1);
                }
                key.push(byte);
            }
            key.push(0);
        }
    }
    key
}

/// One series' objects from the store, decoded when read: samples outside the selected range
/// dropped, samples at an already-seen timestamp (overlapping objects from replicas or repeated
/// flushes) dropped.
#[derive(Debug)]
struct StoredSamples {
    /// Sorted by the time range their keys name.
    objects: Vec<Arc<OpenedObject>>,
    start_ms: i64,
    end_ms: i64,
}

impl StoredSamples {
    /// Appends the samples to `out`.
    fn decode(&self, out: &mut Vec<Sample>) -> Result<(), StorageError> {
        let base = out.len();
        let mut sorted = true;
        for object in &self.objects {
            // Decoded in place (only the segments that overlap the range), then clipped to the
            // range: usually the object lies inside it and nothing moves.
            let before = out.len();
            object.decode_range_into(self.start_ms, self.end_ms, out)?;
            let added = &out[before..];
            let (keep_from, keep_to) =
                if added.windows(2).all(|pair| pair[0].timestamp_ms < pair[1].timestamp_ms) {
                    let keep_from = added.partition_point(|s| s.timestamp_ms < self.start_ms);
                    // `max`: an empty range (start after end) keeps nothing rather than underflow.
                    (keep_from, added.partition_point(|s| s.timestamp_ms <= self.end_ms).max(keep_from))
                } else {
                    sorted = false;
                    let mut kept = 0;
                    for index in 0..added.len() {
                        let sample = out[before + index];
                        if sample.timestamp_ms >= self.start_ms && sample.timestamp_ms <= self.end_ms {
                            out[before + kept] = sample;
                            kept += 1;
                        }
                    }
                    (0, kept)
                };
            if keep_from > 0 {
                out.copy_within(before + keep_from..before + keep_to, before);
            }
            out.truncate(before + keep_to - keep_from);
            if before > base && out.len() > before && out[before].timestamp_ms <= out[before - 1].timestamp_ms
            {
                sorted = false;
            }
        }
        if !sorted {
            // Stable, so the first object's sample wins on equal timestamps.
            out[base..].sort_by_key(|s| s.timestamp_ms);
            let mut kept = base;
            for index in base..out.len() {
                if kept == base || out[index].timestamp_ms != out[kept - 1].timestamp_ms {
                    out[kept] = out[index];
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
        Ok(())
    }
}

impl SampleSource for StoredSamples {
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError> {
        Ok(self.decode(out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(labels: &Labels, samples: &[(i64, f64)]) -> Arc<OpenedObject> {
        let samples: Vec<Sample> =
            samples.iter().map(|(t, v)| Sample { timestamp_ms: *t, value: *v }).collect();
        let object = object_format::encode(labels, &samples, object_format::BodyEncoding::Zstd);
        Arc::new(object_format::open(&object).expect("own object"))
    }

    #[test]
    fn stored_samples_sort_dedupe_and_clip_to_the_range() {
        let labels = Labels::from_pairs([("__name__", "x")]);
        let a = object(&labels, &[(10, 1.0), (20, 2.0), (30, 3.0)]);
        let b = object(&labels, &[(20, 9.0), (25, 2.5), (40, 4.0)]);
        let stored = StoredSamples { objects: vec![a.clone(), b.clone()], start_ms: 0, end_ms: 35 };
        let mut out = vec![Sample { timestamp_ms: -5, value: 0.0 }];
        stored.decode(&mut out).unwrap();
        let got: Vec<(i64, f64)> = out.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(got, vec![(-5, 0.0), (10, 1.0), (20, 2.0), (25, 2.5), (30, 3.0)]);
        // Disjoint objects in order are appended as they are.
        let c = object(&labels, &[(50, 5.0), (60, 6.0)]);
        let stored = StoredSamples { objects: vec![a.clone(), c], start_ms: 15, end_ms: 55 };
        let mut out = Vec::new();
        stored.decode_into(&mut out).unwrap();
        let got: Vec<i64> = out.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(got, vec![20, 30, 50]);
        // An empty range keeps nothing.
        let stored = StoredSamples { objects: vec![a], start_ms: 25, end_ms: 15 };
        let mut out = Vec::new();
        stored.decode_into(&mut out).unwrap();
        assert!(out.is_empty());
    }

    proptest::proptest! {
        /// Label sets sort as their sort keys do, NUL and 0x01 bytes and prefixes included.
        #[test]
        fn label_sort_keys_sort_as_labels_do(
            sets in proptest::collection::vec(
                proptest::collection::btree_map("[a\\x00\\x01b]{0,3}", "[a\\x00\\x01\\x02b]{0,3}", 0..4),
                2..12,
            )
        ) {
            let sets: Vec<Labels> = sets.into_iter().map(Labels::from_pairs).collect();
            for a in &sets {
                for b in &sets {
                    proptest::prop_assert_eq!(a.cmp(b), label_sort_key(a).cmp(&label_sort_key(b)), "{:?} {:?}", a, b);
                }
            }
        }
    }

    #[test]
    fn only_literal_alternations_name_metrics() {
        assert_eq!(literal_alternatives("up"), Some(vec!["up".to_string()]));
        assert_eq!(literal_alternatives("x|h_bucket|x"), Some(vec!["h_bucket".to_string(), "x".to_string()]));
        for regex in ["", "x|", "rp_temp.*", "(x|y)", "a\\.b", "[ab]", "x+|y"] {
            assert_eq!(literal_alternatives(regex), None, "{regex:?}");
        }
        let name_and_regex = [
            Matcher::new(MatchOp::RegexMatch, METRIC_NAME, "a.*").unwrap(),
            Matcher::equal(METRIC_NAME, "b"),
        ];
        assert_eq!(metric_names(&name_and_regex), Some(vec!["b".to_string()]));
        assert_eq!(metric_names(&[Matcher::equal("job", "x")]), None);
    }
}
