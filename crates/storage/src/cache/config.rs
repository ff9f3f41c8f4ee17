//! Cortex's cache config blocks, keys and flags unchanged: a [`CacheConfig`] per caching
//! opportunity (`enable_fifocache`, `default_validity`, `background`, `memcached`,
//! `memcached_client`, `fifocache`), the `chunk_store:` section holding the chunk cache and the
//! write-dedupe cache, and the option tables of the index-query cache in `storage:`.
//!
//! Flags take Cortex's prefixes: `-store.chunks-cache.*` (chunk cache),
//! `-store.index-cache-read.*` (index-query cache), `-store.index-cache-write.*` (write dedupe).
//! Redis is not implemented (a `redis:` block is an unknown key).

use std::sync::LazyLock;
use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::{ConfigOption, ConfigSection};
use serde::{Deserialize, Serialize};

/// Write-back of cache stores in the background (memcached only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackgroundConfig {
    /// Tasks writing back to the cache.
    pub writeback_goroutines: usize,
    /// Store batches buffered for write-back; more are dropped (and counted).
    pub writeback_buffer: usize,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self { writeback_goroutines: 10, writeback_buffer: 10_000 }
    }
}

/// How data is stored in memcached (`memcached_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemcachedConfig {
    /// How long keys stay in memcached; 0 uses `default_validity`, and then memcached's LRU.
    pub expiration: GoDuration,
    /// Keys per multi-get; 0 fetches each server's keys in one request.
    pub batch_size: usize,
    /// Requests in flight at once; 0 for no limit.
    pub parallelism: usize,
}

impl Default for MemcachedConfig {
    fn default() -> Self {
        Self { expiration: GoDuration(Duration::ZERO), batch_size: 1024, parallelism: 100 }
    }
}

/// How the memcached client finds and talks to servers (`memcached_client_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemcachedClientConfig {
    /// A host whose A/AAAA records are the servers (port 11211 unless `host:port`). Cortex
    /// looks up SRV records `_<service>._tcp.<host>`; we have no SRV resolver.
    pub host: String,
    /// Cortex's SRV service name; accepted, unused (see `host`).
    pub service: String,
    /// Comma-separated `host:port` or `dns+host:port` servers.
    pub addresses: String,
    /// Maximum time a request (connecting included) may take.
    pub timeout: GoDuration,
    /// Idle connections kept per server.
    pub max_idle_conns: usize,
    /// Values larger than this are not stored; 0 for no limit.
    pub max_item_size: usize,
    /// How often `host` and `dns+` addresses are re-resolved.
    pub update_interval: GoDuration,
    /// Spread keys by consistent hashing (true) or by hash modulo the server count.
    pub consistent_hash: bool,
    /// Consecutive failures after which a server is skipped; 0 disables the breaker.
    pub circuit_breaker_consecutive_failures: u32,
    /// How long a tripped server is skipped (0 means 60s).
    pub circuit_breaker_timeout: GoDuration,
    /// Failure counts older than this are forgotten (0 never).
    pub circuit_breaker_interval: GoDuration,
}

impl Default for MemcachedClientConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            service: "memcached".to_string(),
            addresses: String::new(),
            timeout: GoDuration(Duration::from_millis(100)),
            max_idle_conns: 16,
            max_item_size: 0,
            update_interval: GoDuration(Duration::from_secs(60)),
            consistent_hash: true,
            circuit_breaker_consecutive_failures: 10,
            circuit_breaker_timeout: GoDuration(Duration::from_secs(10)),
            circuit_breaker_interval: GoDuration(Duration::from_secs(10)),
        }
    }
}

impl MemcachedClientConfig {
    /// Whether any server is configured (else no memcached is used).
    pub fn is_configured(&self) -> bool {
        !self.host.trim().is_empty() || self.address_list().next().is_some()
    }

    /// The non-empty entries of `addresses`.
    pub fn address_list(&self) -> impl Iterator<Item = &str> {
        self.addresses.split(',').map(str::trim).filter(|a| !a.is_empty())
    }
}

/// The in-process cache (`fifo_cache_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FifoCacheConfig {
    /// Most bytes held, with an optional unit (`512MB`, `1GiB`; units are powers of 1024).
    pub max_size_bytes: String,
    /// Most entries held.
    pub max_size_items: u64,
    /// How long an entry stays valid; 0 uses `default_validity`, and then for ever.
    pub validity: GoDuration,
    /// Deprecated alias of `max_size_items`.
    pub size: u64,
}

impl Default for FifoCacheConfig {
    fn default() -> Self {
        Self {
            max_size_bytes: String::new(),
            max_size_items: 0,
            validity: GoDuration(Duration::ZERO),
            size: 0,
        }
    }
}

impl FifoCacheConfig {
    /// `max_size_bytes` in bytes (0 when empty).
    pub fn max_bytes(&self) -> Result<u64, String> {
        parse_byte_size(&self.max_size_bytes)
    }

    /// The item bound, honouring the deprecated `size`.
    pub fn max_items(&self) -> u64 {
        if self.max_size_items > 0 {
            self.max_size_items
        } else {
            self.size
        }
    }
}

/// One cache (`cache_config`): in-process, memcached, or both tiered (in-process first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Use the in-process cache.
    pub enable_fifocache: bool,
    /// Validity of entries when the backend sets none.
    pub default_validity: GoDuration,
    /// Background write-back to memcached.
    pub background: BackgroundConfig,
    /// How data is stored in memcached.
    pub memcached: MemcachedConfig,
    /// The memcached client; no servers means no memcached.
    pub memcached_client: MemcachedClientConfig,
    /// The in-process cache.
    pub fifocache: FifoCacheConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enable_fifocache: false,
            default_validity: GoDuration(Duration::ZERO),
            background: BackgroundConfig::default(),
            memcached: MemcachedConfig::default(),
            memcached_client: MemcachedClientConfig::default(),
            fifocache: FifoCacheConfig::default(),
        }
    }
}

impl CacheConfig {
    /// Whether any backend is configured.
    pub fn is_enabled(&self) -> bool {
        self.enable_fifocache || self.memcached_client.is_configured()
    }

    /// The in-process validity: `fifocache.validity`, else `default_validity`.
    pub fn fifo_validity(&self) -> Duration {
        if self.fifocache.validity.0.is_zero() {
            self.default_validity.0
        } else {
            self.fifocache.validity.0
        }
    }

    /// The memcached expiration: `memcached.expiration`, else `default_validity`.
    pub fn memcached_expiration(&self) -> Duration {
        if self.memcached.expiration.0.is_zero() {
            self.default_validity.0
        } else {
            self.memcached.expiration.0
        }
    }

    /// Checks the values; `path` (e.g. `chunk_store.chunk_cache_config`) prefixes the messages.
    pub fn validate_at(&self, path: &str) -> Result<(), String> {
        let max_bytes = self
            .fifocache
            .max_bytes()
            .map_err(|error| format!("{path}.fifocache.max_size_bytes: {error}"))?;
        if self.enable_fifocache && max_bytes == 0 && self.fifocache.max_items() == 0 {
            return Err(format!(
                "{path}.fifocache: set max_size_bytes or max_size_items to bound the in-process cache"
            ));
        }
        let client = &self.memcached_client;
        for address in client.address_list() {
            if address.starts_with("dnssrv+") || address.starts_with("dnssrvnoa+") {
                return Err(format!(
                    "{path}.memcached_client.addresses: {address:?}: SRV discovery is not supported; use host:port or dns+host:port"
                ));
            }
            let name = address.strip_prefix("dns+").unwrap_or(address);
            if name
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            {
                return Err(format!("{path}.memcached_client.addresses: {address:?} is not host:port"));
            }
        }
        if client.is_configured() && client.timeout.0.is_zero() {
            return Err(format!("{path}.memcached_client.timeout must be greater than 0"));
        }
        Ok(())
    }
}

/// Parses a byte size: digits with an optional unit `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (case-insensitive, powers of 1024 as Cortex reads them).
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a byte size (e.g. 512MB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use B, KB, MB, GB or TB)")),
    };
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("{text:?} is too large"))
}

/// The `chunk_store:` section (Cortex's `chunk_store_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkStoreConfig {
    /// The chunk cache (`-store.chunks-cache.*`). Beyond Cortex: on by default in process
    /// (256MB), since chunk objects never change.
    pub chunk_cache_config: CacheConfig,
    /// The index write-dedupe cache (`-store.index-cache-write.*`).
    pub write_dedupe_cache_config: CacheConfig,
    /// Index queries of days older than this are cached for ever (0 disables).
    pub cache_lookups_older_than: GoDuration,
}

impl Default for ChunkStoreConfig {
    fn default() -> Self {
        let mut chunk_cache_config = CacheConfig { enable_fifocache: true, ..CacheConfig::default() };
        chunk_cache_config.fifocache.max_size_bytes = "256MB".to_string();
        Self {
            chunk_cache_config,
            write_dedupe_cache_config: CacheConfig::default(),
            cache_lookups_older_than: GoDuration(Duration::ZERO),
        }
    }
}

/// The options of one cache block whose YAML key is `key` and flag prefix `flag`.
pub fn cache_options(key: &str, flag: &str, what: &str) -> Vec<ConfigOption> {
    let rows: [(&str, &str, &str); 22] = [
        ("enable_fifocache", "cache.enable-fifocache", "Enable in-memory cache."),
        ("default_validity", "default-validity", "The default validity of entries for caches unless overridden."),
        ("background.writeback_goroutines", "background.write-back-concurrency", "At what concurrency to write back to cache."),
        ("background.writeback_buffer", "background.write-back-buffer", "How many key batches to buffer for background write-back."),
        ("memcached.expiration", "memcached.expiration", "How long keys stay in the memcache."),
        ("memcached.batch_size", "memcached.batchsize", "How many keys to fetch in each batch."),
        ("memcached.parallelism", "memcached.parallelism", "Maximum active requests to memcache."),
        ("memcached_client.host", "memcached.hostname", "Hostname for memcached service to use (its A/AAAA records are the servers). If empty and if addresses is unset, no memcached will be used."),
        ("memcached_client.service", "memcached.service", "SRV service used to discover memcache servers (accepted, unused: no SRV lookups)."),
        ("memcached_client.addresses", "memcached.addresses", "Comma separated addresses list: host:port or dns+host:port."),
        ("memcached_client.timeout", "memcached.timeout", "Maximum time to wait before giving up on memcached requests."),
        ("memcached_client.max_idle_conns", "memcached.max-idle-conns", "Maximum number of idle connections in pool."),
        ("memcached_client.max_item_size", "memcached.max-item-size", "The maximum size of an item stored in memcached. Bigger items are not stored. If set to 0, no maximum size is enforced."),
        ("memcached_client.update_interval", "memcached.update-interval", "Period with which to poll DNS for memcache servers."),
        ("memcached_client.consistent_hash", "memcached.consistent-hash", "Use consistent hashing to distribute to memcache servers."),
        ("memcached_client.circuit_breaker_consecutive_failures", "memcached.circuit-breaker-consecutive-failures", "Trip circuit-breaker after this number of consecutive failures (if zero then circuit-breaker is disabled)."),
        ("memcached_client.circuit_breaker_timeout", "memcached.circuit-breaker-timeout", "Duration circuit-breaker remains open after tripping (if zero then 60 seconds is used)."),
        ("memcached_client.circuit_breaker_interval", "memcached.circuit-breaker-interval", "Reset circuit-breaker counts after this long (if zero then never reset)."),
        ("fifocache.max_size_bytes", "fifocache.max-size-bytes", "Maximum memory size of the cache in bytes. A unit suffix (KB, MB, GB) may be applied."),
        ("fifocache.max_size_items", "fifocache.max-size-items", "Maximum number of entries in the cache."),
        ("fifocache.validity", "fifocache.duration", "The expiry duration for the cache."),
        ("fifocache.size", "fifocache.size", "Deprecated (use max-size-items or max-size-bytes instead): The number of entries to cache."),
    ];
    let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    rows.iter()
        .map(|(sub_key, sub_flag, help)| ConfigOption {
            key: leak(format!("{key}.{sub_key}")),
            flag: leak(format!("{flag}.{sub_flag}")),
            help: leak(format!("{what} {help}")),
        })
        .collect()
}

static CHUNK_STORE_OPTIONS: LazyLock<Vec<ConfigOption>> = LazyLock::new(|| {
    let mut options = cache_options("chunk_cache_config", "store.chunks-cache", "Cache config for chunks.");
    options.extend(cache_options(
        "write_dedupe_cache_config",
        "store.index-cache-write",
        "Cache config for index entry writing.",
    ));
    options.push(ConfigOption {
        key: "cache_lookups_older_than",
        flag: "store.cache-lookups-older-than",
        help: "Cache index entries older than this period for ever (0 to disable).",
    });
    options
});

/// The index-query cache options of the `storage:` section (`index_cache_validity`,
/// `index_queries_cache_config.*`), for `StorageConfig::options`.
pub static INDEX_QUERIES_CACHE_OPTIONS: LazyLock<Vec<ConfigOption>> = LazyLock::new(|| {
    let mut options = vec![ConfigOption {
        key: "index_cache_validity",
        flag: "store.index-cache-validity",
        help: "Cache validity for active index entries. Should be no higher than -ingester.max-chunk-idle.",
    }];
    options.extend(cache_options(
        "index_queries_cache_config",
        "store.index-cache-read",
        "Cache config for index entry reading.",
    ));
    options
});

impl ConfigSection for ChunkStoreConfig {
    fn options() -> &'static [ConfigOption] {
        &CHUNK_STORE_OPTIONS
    }

    fn validate(&self) -> Result<(), String> {
        self.chunk_cache_config.validate_at("chunk_store.chunk_cache_config")?;
        self.write_dedupe_cache_config.validate_at("chunk_store.write_dedupe_cache_config")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size(""), Ok(0));
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert_eq!(parse_byte_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_byte_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_byte_size("2 kb"), Ok(2048));
        assert!(parse_byte_size("12XB").unwrap_err().contains("unknown unit"));
        assert!(parse_byte_size("MB").is_err());
        assert!(parse_byte_size("99999999999TB").unwrap_err().contains("too large"));
    }

    #[test]
    fn cortex_yaml_parses() {
        let yaml = r#"
chunk_cache_config:
  enable_fifocache: true
  default_validity: 1h
  background: {writeback_goroutines: 4, writeback_buffer: 100}
  memcached: {expiration: 24h, batch_size: 256, parallelism: 10}
  memcached_client:
    host: memcached.default.svc
    service: memcached
    addresses: "10.0.0.1:11211,dns+memcached:11211"
    timeout: 200ms
    max_idle_conns: 4
    update_interval: 30s
    consistent_hash: true
  fifocache: {max_size_bytes: 1GB, max_size_items: 1000, validity: 10m}
write_dedupe_cache_config:
  memcached_client: {addresses: "127.0.0.1:11211"}
cache_lookups_older_than: 36h
"#;
        let config: ChunkStoreConfig = serde_norway::from_str(yaml).unwrap();
        assert!(config.validate().is_ok());
        let chunks = &config.chunk_cache_config;
        assert_eq!(chunks.fifocache.max_bytes(), Ok(1 << 30));
        assert_eq!(chunks.fifo_validity(), Duration::from_secs(600));
        assert_eq!(chunks.memcached_expiration(), Duration::from_secs(86_400));
        assert_eq!(
            chunks.memcached_client.address_list().collect::<Vec<_>>(),
            ["10.0.0.1:11211", "dns+memcached:11211"]
        );
        assert!(config.write_dedupe_cache_config.is_enabled());
        assert!(!config.write_dedupe_cache_config.enable_fifocache);
        assert_eq!(config.cache_lookups_older_than.0, Duration::from_secs(36 * 3600));
        let unknown =
            serde_norway::from_str::<ChunkStoreConfig>("chunk_cache_config: {redis: {endpoint: x}}");
        assert!(unknown.unwrap_err().to_string().contains("redis"));
    }

    #[test]
    fn validation_names_the_option() {
        let mut config = ChunkStoreConfig::default();
        assert!(config.validate().is_ok());
        config.chunk_cache_config.fifocache.max_size_bytes = String::new();
        let error = config.validate().unwrap_err();
        assert!(error.contains("chunk_store.chunk_cache_config.fifocache"), "{error}");
        let mut config = ChunkStoreConfig::default();
        config.write_dedupe_cache_config.memcached_client.addresses = "dnssrv+_memcached._tcp.x".into();
        assert!(config
            .validate()
            .unwrap_err()
            .contains("write_dedupe_cache_config.memcached_client.addresses"));
        config.write_dedupe_cache_config.memcached_client.addresses = "nohost".into();
        assert!(config.validate().unwrap_err().contains("not host:port"));
    }

    #[test]
    fn flags_carry_cortex_prefixes() {
        let flags: Vec<&str> = ChunkStoreConfig::options().iter().map(|o| o.flag).collect();
        for flag in [
            "store.chunks-cache.cache.enable-fifocache",
            "store.chunks-cache.memcached.addresses",
            "store.chunks-cache.fifocache.max-size-bytes",
            "store.index-cache-write.memcached.batchsize",
            "store.cache-lookups-older-than",
        ] {
            assert!(flags.contains(&flag), "{flag} missing");
        }
        let keys: Vec<&str> = INDEX_QUERIES_CACHE_OPTIONS.iter().map(|o| o.key).collect();
        assert!(keys.contains(&"index_queries_cache_config.memcached_client.timeout"));
        assert!(keys.contains(&"index_cache_validity"));
    }
}
