//! The caches against a real memcached (two servers for selection; killed mid-test for the
//! outage case) and the cache wrappers over the memory clients, counting the calls that reach
//! the underlying clients. Without memcached installed the memcached tests are skipped with a
//! notice, except under `CI=true`, where they fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use neocortex_core::{Labels, MatchOp, Matcher, Sample, TenantId};
use neocortex_storage::cache::build::{memcached_settings, new_cache, CHUNKS_CACHE_PREFIX};
use neocortex_storage::cache::config::CacheConfig;
use neocortex_storage::cache::dedupe::CacheWriteDedupe;
use neocortex_storage::cache::index::CachingIndexClient;
use neocortex_storage::cache::memcached::{MemcachedCache, MemcachedSettings};
use neocortex_storage::cache::memory::{MemoryCache, MemoryCacheLimits};
use neocortex_storage::cache::metrics::CacheMetrics;
use neocortex_storage::cache::object::CachingObjectClient;
use neocortex_storage::cache::selector::{hash64, ServerSelector};
use neocortex_storage::cache::tiered::TieredCache;
use neocortex_storage::cache::{wrap_with_caches, Cache, StoreCaches};
use neocortex_storage::index::memory::MemoryIndexClient;
use neocortex_storage::object::memory::MemoryObjectClient;
use neocortex_storage::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use neocortex_storage::{ChunkStore, IndexClient, ObjectClient, SchemaConfig, SeriesChunks, StorageError};
use neocortex_testkit::chunks::xor_chunks;
use neocortex_testkit::memcached::{memcached_available, MemcachedProcess};

const SCHEMA: &str = r#"
configs:
  - from: 2020-01-01
    store: redb
    object_store: filesystem
    schema: v11
    index: {prefix: index_, period: 1w}
    row_shards: 4
"#;

/// 2020-01-02T00:00:00Z.
const START_MS: i64 = 1_577_923_200_000;
const STEP_MS: i64 = 15_000;

fn keys(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i}")).collect()
}

fn value_of(key: &str) -> Bytes {
    Bytes::from(format!("value of {key} ").repeat(20))
}

fn settings(addresses: &[String]) -> MemcachedSettings {
    MemcachedSettings {
        addresses: addresses.to_vec(),
        timeout: Duration::from_millis(500),
        batch_size: 7,
        parallelism: 4,
        max_idle_conns: 2,
        ..MemcachedSettings::default()
    }
}

/// An object client that counts calls reaching the memory client it wraps.
#[derive(Default)]
struct CountingObjects {
    inner: MemoryObjectClient,
    gets: AtomicUsize,
    puts: AtomicUsize,
}

#[async_trait]
impl ObjectClient for CountingObjects {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, data).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
}

/// An index client that counts queries (one per `IndexQuery`) and rows written; it reports the
/// memory client's write generation only when `forward_generation` is set.
#[derive(Default)]
struct CountingIndex {
    inner: MemoryIndexClient,
    queries: AtomicUsize,
    rows_written: AtomicUsize,
    forward_generation: bool,
}

#[async_trait]
impl IndexClient for CountingIndex {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        self.rows_written.fetch_add(entries.len(), Ordering::Relaxed);
        self.inner.batch_write(entries).await
    }
    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        self.queries.fetch_add(queries.len(), Ordering::Relaxed);
        self.inner.query(queries).await
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
    fn write_generation(&self) -> Option<u64> {
        self.inner.write_generation().filter(|_| self.forward_generation)
    }
}

fn memory_cache(max_bytes: u64) -> Arc<dyn Cache> {
    let limits = MemoryCacheLimits { max_bytes, max_items: 0, ttl: None };
    Arc::new(MemoryCache::new("test", limits, &CacheMetrics::unregistered()))
}

/// 40 series of `node_cpu_seconds_total` over 12 h at 15 s, one chunk each.
fn workload() -> Vec<SeriesChunks> {
    (0..40)
        .map(|i| {
            let labels = Labels::from_pairs(vec![
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", format!("{}", i % 8)),
                ("instance", format!("host-{}:9100", i / 8)),
                ("mode", if i % 2 == 0 { "idle" } else { "user" }.to_string()),
            ]);
            let samples: Vec<Sample> = (0..2880)
                .map(|s| Sample {
                    timestamp_ms: START_MS + s * STEP_MS,
                    value: (i as f64) * 1000.0 + s as f64 * 0.5,
                })
                .collect();
            SeriesChunks { labels, chunks: xor_chunks(&samples, samples.len()) }
        })
        .collect()
}

fn idle_matchers() -> Vec<Matcher> {
    vec![
        Matcher::new(MatchOp::Equal, "__name__", "node_cpu_seconds_total").unwrap(),
        Matcher::new(MatchOp::Equal, "mode", "idle").unwrap(),
    ]
}

const END_MS: i64 = START_MS + 12 * 3600 * 1000;

#[tokio::test]
async fn memcached_spreads_keys_over_two_servers_in_batches() {
    if !memcached_available("memcached_spreads_keys_over_two_servers_in_batches") {
        return;
    }
    let (a, b) = (MemcachedProcess::start().await.unwrap(), MemcachedProcess::start().await.unwrap());
    let addresses = vec![a.address(), b.address()];
    let metrics = CacheMetrics::unregistered();
    let cache = MemcachedCache::new("both", settings(&addresses), metrics.clone());
    let stored = keys(200, "chunk");
    cache.store(stored.iter().map(|k| (k.clone(), value_of(k))).collect()).await;

    let mut asked = stored.clone();
    asked.extend(keys(10, "absent"));
    let fetched = cache.fetch(&asked).await;
    assert_eq!(fetched.missing, keys(10, "absent"));
    assert_eq!(fetched.found.len(), 200);
    for ((key, value), expected) in fetched.found.iter().zip(&stored) {
        assert_eq!(key, expected, "found in key order");
        assert_eq!(value, &value_of(key));
    }
    // 200 keys over 2 servers in batches of 7: at least ceil(200/7) multi-gets.
    let gets = metrics.memcache_requests("both", "Memcache.GetMulti", "200");
    assert!(gets >= 29, "{gets} multi-gets");

    // Each key lives on exactly the server the consistent-hash ring picks.
    let selector = ServerSelector::new(addresses.clone(), true);
    for process in [&a, &b] {
        let alone = MemcachedCache::new("one", settings(&[process.address()]), CacheMetrics::unregistered());
        let here = alone.fetch(&stored).await;
        let expected: Vec<&String> = stored
            .iter()
            .filter(|k| {
                let hashed = neocortex_storage::cache::memcached::memcached_key(k);
                selector.servers()[selector.pick(hash64(hashed.as_bytes())).unwrap()] == process.address()
            })
            .collect();
        assert!(!expected.is_empty() && expected.len() < 200, "both servers own keys");
        assert_eq!(here.found.iter().map(|(k, _)| k).collect::<Vec<_>>(), expected);
    }
}

#[tokio::test]
async fn memcached_entries_expire() {
    if !memcached_available("memcached_entries_expire") {
        return;
    }
    let server = MemcachedProcess::start().await.unwrap();
    let settings = MemcachedSettings { expiration: Duration::from_secs(2), ..settings(&[server.address()]) };
    let cache = MemcachedCache::new("ttl", settings, CacheMetrics::unregistered());
    cache.store(vec![("k".into(), value_of("k"))]).await;
    assert_eq!(cache.fetch(&["k".to_string()]).await.found.len(), 1);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(cache.fetch(&["k".to_string()]).await.missing, ["k"]);
}

#[tokio::test]
async fn memcached_outage_is_a_miss_not_an_error() {
    if !memcached_available("memcached_outage_is_a_miss_not_an_error") {
        return;
    }
    let (a, mut b) = (MemcachedProcess::start().await.unwrap(), MemcachedProcess::start().await.unwrap());
    let metrics = CacheMetrics::unregistered();
    let settings = MemcachedSettings {
        circuit_breaker_consecutive_failures: 3,
        circuit_breaker_timeout: Duration::from_secs(60),
        ..settings(&[a.address(), b.address()])
    };
    let cache = MemcachedCache::new("outage", settings, metrics.clone());
    let stored = keys(100, "k");
    cache.store(stored.iter().map(|k| (k.clone(), value_of(k))).collect()).await;
    assert_eq!(cache.fetch(&stored).await.found.len(), 100);

    b.kill();
    for round in 0..5 {
        let started = Instant::now();
        let fetched = cache.fetch(&stored).await;
        assert!(started.elapsed() < Duration::from_secs(3), "round {round} took {:?}", started.elapsed());
        // The keys of the live server are still served, the dead server's are misses.
        assert!(!fetched.found.is_empty() && !fetched.missing.is_empty(), "round {round}");
        assert_eq!(fetched.found.len() + fetched.missing.len(), 100);
        for (key, value) in &fetched.found {
            assert_eq!(value, &value_of(key));
        }
        cache.store(vec![(format!("new{round}"), value_of("x"))]).await;
    }
    let failed = metrics.memcache_requests("outage", "Memcache.GetMulti", "500")
        + metrics.memcache_requests("outage", "Memcache.GetMulti", "timeout");
    assert!(failed >= 3, "failures counted: {failed}");
    assert!(
        metrics.memcache_requests("outage", "Memcache.GetMulti", "circuit_open") > 0,
        "the breaker opened after 3 failures"
    );
}

#[tokio::test]
async fn tiered_cache_serves_from_memory_while_memcached_is_down() {
    if !memcached_available("tiered_cache_serves_from_memory_while_memcached_is_down") {
        return;
    }
    let mut server = MemcachedProcess::start().await.unwrap();
    let mut config = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
    config.fifocache.max_size_bytes = "1MB".into();
    config.memcached_client.addresses = server.address();
    config.background.writeback_goroutines = 0; // write inline so the test can read back at once
    let cache = new_cache("tiered", &config, &CacheMetrics::unregistered()).unwrap().unwrap();
    let memcached_only = MemcachedCache::new("m", memcached_settings(&config), CacheMetrics::unregistered());
    let stored = keys(20, "k");
    cache.store(stored.iter().map(|k| (k.clone(), value_of(k))).collect()).await;
    assert_eq!(memcached_only.fetch(&stored).await.found.len(), 20, "stores reach memcached");
    server.kill();
    let fetched = cache.fetch(&stored).await;
    assert_eq!(fetched.found.len(), 20);
    assert!(memcached_only.fetch(&stored).await.found.is_empty());
}

/// The whole store with memcached chunk, index-query and write-dedupe caches: the second read
/// never reaches the clients; with memcached killed, reads and writes still succeed and agree.
#[tokio::test]
async fn chunk_store_over_memcached_survives_an_outage() {
    if !memcached_available("chunk_store_over_memcached_survives_an_outage") {
        return;
    }
    let (mut a, mut b) = (MemcachedProcess::start().await.unwrap(), MemcachedProcess::start().await.unwrap());
    let mut config = CacheConfig::default();
    config.memcached_client.addresses = format!("{},{}", a.address(), b.address());
    config.memcached_client.timeout = neocortex_core::duration::GoDuration(Duration::from_millis(500));
    config.background.writeback_goroutines = 0;
    let metrics = CacheMetrics::unregistered();
    let caches = StoreCaches {
        chunks: new_cache(CHUNKS_CACHE_PREFIX, &config, &metrics).unwrap(),
        index_queries: new_cache("store.index-cache-read.", &config, &metrics).unwrap(),
        write_dedupe: new_cache("store.index-cache-write.", &config, &metrics).unwrap(),
        index_cache_validity: Duration::from_secs(300),
        cache_lookups_older_than: Duration::ZERO,
        metrics: metrics.clone(),
    };
    let objects = Arc::new(CountingObjects::default());
    let index = Arc::new(CountingIndex::default());
    let wrapped = wrap_with_caches(index.clone(), objects.clone(), &caches);
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    // Without the opened-objects cache, so that reads during the outage go to the object store.
    let store = ChunkStore::new(schema, wrapped.index, wrapped.objects)
        .with_write_dedupe(wrapped.write_dedupe)
        .with_opened_objects_capacity(0);
    let tenant = TenantId::new("team-a").unwrap();
    let series = workload();

    let first = store.put_many(&tenant, &series).await.unwrap();
    let again = store.put_many(&tenant, &series).await.unwrap();
    assert!(again.index_rows < first.index_rows, "label rows deduped: {again:?} vs {first:?}");

    let cold = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(cold.len(), 20);
    assert_eq!(cold.iter().map(|s| s.samples.len()).sum::<usize>(), 20 * 2880);
    // Written through on put: even the first read found every chunk in the cache.
    assert_eq!(objects.gets.load(Ordering::Relaxed), 0);
    let queries = index.queries.load(Ordering::Relaxed);
    assert!(queries > 0);
    let warm = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(warm, cold);
    assert_eq!(index.queries.load(Ordering::Relaxed), queries, "index answers came from the cache");
    assert_eq!(objects.gets.load(Ordering::Relaxed), 0);

    a.kill();
    b.kill();
    let started = Instant::now();
    let during = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(during, cold, "the store answers the same without its caches");
    assert!(objects.gets.load(Ordering::Relaxed) >= 20, "chunks were read from the object store");
    let more = workload()
        .into_iter()
        .map(|mut s| {
            let pairs: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|l| {
                    (l.name.clone(), if l.name == "mode" { "system".to_string() } else { l.value.clone() })
                })
                .collect();
            s.labels = Labels::from_pairs(pairs);
            s
        })
        .collect::<Vec<_>>();
    let written = store.put_many(&tenant, &more).await.unwrap();
    assert_eq!(written.objects, 40);
    let system = vec![
        Matcher::new(MatchOp::Equal, "__name__", "node_cpu_seconds_total").unwrap(),
        Matcher::new(MatchOp::Equal, "mode", "system").unwrap(),
    ];
    assert_eq!(store.select(&tenant, START_MS, END_MS, &system).await.unwrap().len(), 40);
    assert!(started.elapsed() < Duration::from_secs(20), "outage reads took {:?}", started.elapsed());
}

/// Objects opened by one read serve the next ones that their opened segments cover: a repeated
/// last-hour read reaches no object; a whole-range read after it opens the objects again, and
/// every answer equals a store's without that cache.
#[tokio::test]
async fn opened_objects_serve_repeated_reads() {
    let objects = Arc::new(CountingObjects::default());
    let index = Arc::new(MemoryIndexClient::new());
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let store = ChunkStore::new(schema.clone(), index.clone(), objects.clone());
    let uncached = ChunkStore::new(schema, index, objects.clone()).with_opened_objects_capacity(0);
    let tenant = TenantId::new("t").unwrap();
    // Values that do not compress away, so that an object's newest segment is a small part of it.
    let series: Vec<SeriesChunks> = workload()
        .into_iter()
        .enumerate()
        .map(|(i, series)| {
            let samples: Vec<Sample> = (0..2880)
                .map(|s| Sample {
                    timestamp_ms: START_MS + s * STEP_MS,
                    value: ((s as f64) * 0.37 + i as f64).sin() * 1000.0,
                })
                .collect();
            SeriesChunks { labels: series.labels, chunks: xor_chunks(&samples, samples.len()) }
        })
        .collect();
    store.put_many(&tenant, &series).await.unwrap();
    let gets = || objects.gets.load(Ordering::Relaxed);

    let last_hour = (END_MS - 3_600_000, END_MS);
    let first = store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap();
    assert_eq!(first.len(), 20);
    assert_eq!(gets(), 20);
    let again = store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(gets(), 20, "the repeated read opened no object");

    let whole = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(gets(), 40, "the last hour's segments do not cover the whole range");
    let expected = uncached.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(whole, expected);
    assert_eq!(whole.iter().map(|s| s.samples.len()).sum::<usize>(), 20 * 2880);
    let gets_before = gets();
    assert_eq!(store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap(), expected);
    assert_eq!(store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap(), first);
    assert_eq!(gets(), gets_before, "whole objects serve both ranges");

    // Another tenant's read of the same series names other keys: nothing is shared.
    let other = TenantId::new("u").unwrap();
    assert!(store.select(&other, START_MS, END_MS, &idle_matchers()).await.unwrap().is_empty());
}

/// One more series of `node_cpu_seconds_total` (`mode="idle"`), sampled over the last hour.
fn late_idle_series() -> SeriesChunks {
    let labels = Labels::from_pairs(vec![
        ("__name__", "node_cpu_seconds_total".to_string()),
        ("cpu", "99".to_string()),
        ("instance", "host-late:9100".to_string()),
        ("mode", "idle".to_string()),
    ]);
    let samples: Vec<Sample> = (0..240)
        .map(|s| Sample { timestamp_ms: END_MS - 3_600_000 + s * STEP_MS, value: s as f64 })
        .collect();
    SeriesChunks { labels, chunks: xor_chunks(&samples, samples.len()) }
}

#[tokio::test]
async fn kept_lookups_serve_repeated_reads_until_the_index_changes() {
    let objects = Arc::new(CountingObjects::default());
    let index = Arc::new(CountingIndex { forward_generation: true, ..CountingIndex::default() });
    let schema = SchemaConfig::from_yaml(SCHEMA).unwrap();
    let store = ChunkStore::new(schema.clone(), index.clone(), objects.clone());
    let unkept = ChunkStore::new(schema, index.clone(), objects.clone()).with_kept_lookups_capacity(0);
    let tenant = TenantId::new("t").unwrap();
    store.put_many(&tenant, &workload()).await.unwrap();
    let queries = || index.queries.load(Ordering::Relaxed);

    let last_hour = (END_MS - 3_600_000, END_MS);
    let first = store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap();
    assert_eq!(first.len(), 20);
    let after_first = queries();
    assert!(after_first > 0);
    assert_eq!(store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap(), first);
    assert_eq!(queries(), after_first, "the repeated read asked the index nothing");

    // The kept lookup covers the whole day: another range of it needs no index query either, and
    // gets exactly the chunks that range overlaps.
    let early = (START_MS, START_MS + 3_600_000);
    let early_read = store.select(&tenant, early.0, early.1, &idle_matchers()).await.unwrap();
    assert_eq!(queries(), after_first);
    assert_eq!(early_read, unkept.select(&tenant, early.0, early.1, &idle_matchers()).await.unwrap());
    let other_matchers = vec![
        Matcher::new(MatchOp::Equal, "__name__", "node_cpu_seconds_total").unwrap(),
        Matcher::new(MatchOp::Equal, "mode", "user").unwrap(),
    ];
    let before_other = queries();
    assert_eq!(store.select(&tenant, last_hour.0, last_hour.1, &other_matchers).await.unwrap().len(), 20);
    assert!(queries() > before_other, "other matchers are another lookup");

    // A write makes every kept lookup stale: the new series is found at once.
    store.put_many(&tenant, &[late_idle_series()]).await.unwrap();
    let before_read = queries();
    let after_write = store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap();
    assert!(queries() > before_read, "the lookup ran again");
    assert_eq!(after_write.len(), 21);
    assert_eq!(
        after_write,
        unkept.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap()
    );

    // So does deleting the table: nothing is left to find.
    index.delete_table("index_2609").await.unwrap();
    assert!(store.select(&tenant, last_hour.0, last_hour.1, &idle_matchers()).await.unwrap().is_empty());
}

#[tokio::test]
async fn lookups_are_not_kept_over_an_index_without_a_write_generation() {
    let objects = Arc::new(CountingObjects::default());
    let index = Arc::new(CountingIndex::default());
    let store = ChunkStore::new(SchemaConfig::from_yaml(SCHEMA).unwrap(), index.clone(), objects);
    let tenant = TenantId::new("t").unwrap();
    store.put_many(&tenant, &workload()).await.unwrap();
    let queries = || index.queries.load(Ordering::Relaxed);
    let first = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    let after_first = queries();
    assert_eq!(store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap(), first);
    assert_eq!(queries(), 2 * after_first, "the repeated read asked the index again");
}

#[tokio::test]
async fn chunk_cache_hits_avoid_the_object_store() {
    let objects = Arc::new(CountingObjects::default());
    let client = CachingObjectClient::new(
        objects.clone(),
        memory_cache(1 << 20),
        "chunks",
        CacheMetrics::unregistered(),
    );
    objects.inner.put("plain/key", Bytes::from_static(b"abc")).await.unwrap();
    assert_eq!(client.get("plain/key").await.unwrap(), Bytes::from_static(b"abc"));
    assert_eq!(client.get("plain/key").await.unwrap(), Bytes::from_static(b"abc"));
    assert_eq!(objects.gets.load(Ordering::Relaxed), 1, "second get served from the cache");
    client.put("w/through", Bytes::from_static(b"xyz")).await.unwrap();
    assert_eq!(client.get("w/through").await.unwrap(), Bytes::from_static(b"xyz"));
    assert_eq!(objects.gets.load(Ordering::Relaxed), 1, "written-through objects are cached");
    assert!(matches!(client.get("missing/key").await, Err(StorageError::NotFound(_))));
}

/// A cache that answers from another cache but, like memcached, is not this process's memory.
struct OutOfProcess(Arc<dyn Cache>);

#[async_trait]
impl Cache for OutOfProcess {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        self.0.store(entries).await
    }
    async fn fetch(&self, keys: &[String]) -> neocortex_storage::cache::Fetched {
        self.0.fetch(keys).await
    }
}

#[tokio::test]
async fn corrupt_cached_chunk_is_read_from_the_store() {
    let objects = Arc::new(CountingObjects::default());
    let cache: Arc<dyn Cache> = Arc::new(OutOfProcess(memory_cache(1 << 20)));
    let metrics = CacheMetrics::unregistered();
    let client = CachingObjectClient::new(objects.clone(), cache.clone(), "chunks", metrics.clone());
    let tenant = TenantId::new("t").unwrap();
    let index = Arc::new(MemoryIndexClient::new());
    let store = ChunkStore::new(SchemaConfig::from_yaml(SCHEMA).unwrap(), index, Arc::new(client));
    let series = workload();
    store.put_many(&tenant, &series[..1]).await.unwrap();
    let key = objects.inner.list("t").await.unwrap().remove(0);
    cache.store(vec![(key.clone(), Bytes::from_static(b"garbage"))]).await;
    let read = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(objects.gets.load(Ordering::Relaxed), 1);
}

/// The in-process cache holds what was stored in it, so its hits are not checked twice; bytes
/// that could only get there through a bug still never become an answer: the store checks every
/// object it opens.
#[tokio::test]
async fn in_process_cache_hits_are_checked_once_by_the_store() {
    let objects = Arc::new(CountingObjects::default());
    let cache = memory_cache(1 << 20);
    assert!(cache.in_process() && !OutOfProcess(Arc::clone(&cache)).in_process());
    let client =
        CachingObjectClient::new(objects.clone(), cache.clone(), "chunks", CacheMetrics::unregistered());
    let tenant = TenantId::new("t").unwrap();
    let index = Arc::new(MemoryIndexClient::new());
    let store = ChunkStore::new(SchemaConfig::from_yaml(SCHEMA).unwrap(), index, Arc::new(client))
        .with_opened_objects_capacity(0);
    store.put_many(&tenant, &workload()[..1]).await.unwrap();
    assert_eq!(store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap().len(), 1);
    let key = objects.inner.list("t").await.unwrap().remove(0);
    cache.store(vec![(key, Bytes::from_static(b"garbage"))]).await;
    let error = store.select(&tenant, START_MS, END_MS, &idle_matchers()).await.unwrap_err();
    assert!(error.to_string().contains("checksum mismatch"), "{error}");
    assert_eq!(objects.gets.load(Ordering::Relaxed), 0, "written through, read from the cache");
}

#[tokio::test]
async fn index_cache_hits_avoid_the_index_until_validity_ends() {
    let index = Arc::new(CountingIndex::default());
    let validity = Duration::from_millis(400);
    let client = CachingIndexClient::new(index.clone(), memory_cache(1 << 20), validity, Duration::ZERO);
    let entry = |range: &str| IndexEntry {
        table: "index_1".into(),
        hash_value: "user:d20000:up".into(),
        range_value: range.as_bytes().to_vec(),
        value: b"-".to_vec(),
    };
    client.batch_write(vec![entry("a")]).await.unwrap();
    let query =
        IndexQuery { table: "index_1".into(), hash_value: "user:d20000:up".into(), ..Default::default() };
    let narrow = IndexQuery { range_value_prefix: Some(b"b".to_vec()), ..query.clone() };
    let first = client.query(vec![query.clone(), query.clone(), narrow.clone()]).await.unwrap();
    assert_eq!(first[0].len(), 1);
    assert_eq!(first[0], first[1]);
    assert!(first[2].is_empty());
    assert_eq!(index.queries.load(Ordering::Relaxed), 2, "a repeated query is asked once");
    client.batch_write(vec![entry("b")]).await.unwrap();
    let cached = client.query(vec![query.clone(), narrow.clone()]).await.unwrap();
    assert_eq!(cached[0].len(), 1, "served from the cache within the validity");
    assert_eq!(index.queries.load(Ordering::Relaxed), 2);
    tokio::time::sleep(validity + Duration::from_millis(100)).await;
    let fresh = client.query(vec![query, narrow]).await.unwrap();
    assert_eq!(fresh[0].len(), 2, "re-read after the validity");
    assert_eq!(fresh[1].len(), 1);
    assert_eq!(index.queries.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn old_buckets_are_cached_for_ever_and_zero_validity_caches_nothing_recent() {
    let index = Arc::new(CountingIndex::default());
    let client = CachingIndexClient::new(
        index.clone(),
        memory_cache(1 << 20),
        Duration::ZERO,
        Duration::from_secs(3600),
    );
    // Day 100 (1970) is long past; the current day is recent.
    let today = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        / 86_400) as i64;
    let old = IndexQuery { table: "t".into(), hash_value: "user:d100:up".into(), ..Default::default() };
    let recent =
        IndexQuery { table: "t".into(), hash_value: format!("user:d{today}:up"), ..Default::default() };
    for _ in 0..3 {
        client.query(vec![old.clone(), recent.clone()]).await.unwrap();
    }
    assert_eq!(index.queries.load(Ordering::Relaxed), 2 + 1 + 1, "old bucket asked once, recent every time");
}

#[tokio::test]
async fn write_dedupe_cache_skips_label_rows_already_written() {
    let index = Arc::new(CountingIndex::default());
    let dedupe = Arc::new(CacheWriteDedupe::new(memory_cache(1 << 20)));
    let store = ChunkStore::new(
        SchemaConfig::from_yaml(SCHEMA).unwrap(),
        index.clone(),
        Arc::new(MemoryObjectClient::new()),
    )
    .with_write_dedupe(dedupe);
    let tenant = TenantId::new("t").unwrap();
    let series = workload();
    let first = store.put_many(&tenant, &series).await.unwrap();
    let second = store.put_many(&tenant, &series).await.unwrap();
    // Only the series → chunk rows are written again (one per series and day bucket).
    assert_eq!(second.index_rows, 40);
    assert!(first.index_rows > 4 * second.index_rows, "{first:?}");
    assert_eq!(index.rows_written.load(Ordering::Relaxed), first.index_rows + second.index_rows);
}

#[tokio::test]
async fn tiered_without_memcached_is_plain_memory() {
    let tiered = TieredCache::new(vec![memory_cache(1 << 20)]);
    tiered.store(vec![("a".into(), value_of("a"))]).await;
    assert_eq!(tiered.fetch(&["a".to_string()]).await.found.len(), 1);
}
