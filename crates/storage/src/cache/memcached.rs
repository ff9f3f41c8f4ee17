//! The memcached cache: keys hashed to memcached-safe form and spread over several servers by
//! [`ServerSelector`] (consistent hashing), a small pool of connections per server, a timeout
//! on every request, multi-gets split into batches of `batch_size` run with at most
//! `parallelism` requests in flight, and a circuit breaker per server. A failing server counts
//! as misses (fetch) or dropped writes (store); its errors are logged and counted in
//! `cortex_memcache_request_duration_seconds{status_code!="200"}`, never returned.
//!
//! Server discovery: `addresses` holds `host:port` entries (connected as given) and
//! `dns+host:port` entries (every A/AAAA record of `host` becomes a server); `host` alone (Cortex
//! discovers it through SRV records) is resolved through its A/AAAA records on port 11211 unless
//! it names a port. Names are re-resolved every `update_interval`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_memcached::{AsciiProtocol, Client, Error as MemcacheError, Status};
use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Semaphore;

use crate::cache::metrics::{CacheMetrics, MemcacheLabels, NameLabels};
use crate::cache::selector::{hash64, ServerSelector};
use crate::cache::{Cache, Fetched};

/// Memcached reads expirations above 30 days as absolute unix times.
const MAX_RELATIVE_EXPIRATION_SECONDS: u64 = 30 * 24 * 3600;

/// The port a bare `host` is resolved with.
const DEFAULT_MEMCACHED_PORT: u16 = 11211;

/// How a memcached cache connects and behaves (Cortex's `memcached` + `memcached_client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcachedSettings {
    /// `host:port` or `dns+host:port` entries.
    pub addresses: Vec<String>,
    /// A host name whose A/AAAA records are the servers (port 11211 unless given).
    pub host: String,
    /// Per-request timeout (connecting included).
    pub timeout: Duration,
    /// Idle connections kept per server.
    pub max_idle_conns: usize,
    /// How often names are re-resolved.
    pub update_interval: Duration,
    /// Consistent hashing (true) or `hash % servers`.
    pub consistent_hash: bool,
    /// How long stored keys live; zero for as long as memcached keeps them.
    pub expiration: Duration,
    /// Keys per multi-get.
    pub batch_size: usize,
    /// Requests in flight at once.
    pub parallelism: usize,
    /// Values larger than this are not stored; 0 for no limit.
    pub max_item_size: usize,
    /// Consecutive failures that open a server's circuit; 0 disables the breaker.
    pub circuit_breaker_consecutive_failures: u32,
    /// How long an open circuit skips its server.
    pub circuit_breaker_timeout: Duration,
    /// A failure this long after the previous one starts the count again (zero: never).
    pub circuit_breaker_interval: Duration,
}

impl Default for MemcachedSettings {
    fn default() -> Self {
        Self {
            addresses: Vec::new(),
            host: String::new(),
            timeout: Duration::from_millis(100),
            max_idle_conns: 16,
            update_interval: Duration::from_secs(60),
            consistent_hash: true,
            expiration: Duration::ZERO,
            batch_size: 1024,
            parallelism: 100,
            max_item_size: 0,
            circuit_breaker_consecutive_failures: 10,
            circuit_breaker_timeout: Duration::from_secs(10),
            circuit_breaker_interval: Duration::from_secs(10),
        }
    }
}

/// The memcached key of a cache key: `nc1:` and the unpadded base64url SHA-256 of the key
/// (47 characters, no spaces or control bytes, far below memcached's 250).
pub fn memcached_key(key: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes());
    format!("nc1:{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// One server: its idle connections and circuit breaker.
#[derive(Debug)]
struct Server {
    address: String,
    idle: Mutex<Vec<Pooled>>,
    consecutive_failures: AtomicU32,
    last_failure: Mutex<Option<Instant>>,
    open_until: Mutex<Option<Instant>>,
}

/// An idle connection (wrapped so the pool can be debug-printed).
struct Pooled(Client);

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Server {
    fn new(address: String) -> Self {
        Self {
            address,
            idle: Mutex::new(Vec::new()),
            consecutive_failures: AtomicU32::new(0),
            last_failure: Mutex::new(None),
            open_until: Mutex::new(None),
        }
    }
}

/// The servers currently in use, aligned with the selector's sorted list.
#[derive(Debug, Default)]
struct Topology {
    selector: ServerSelector,
    servers: Vec<Arc<Server>>,
}

/// A memcached-backed [`Cache`].
pub struct MemcachedCache {
    name: String,
    settings: MemcachedSettings,
    metrics: CacheMetrics,
    topology: RwLock<Arc<Topology>>,
    resolved_at: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
    permits: Semaphore,
}

impl std::fmt::Debug for MemcachedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedCache").field("name", &self.name).field("settings", &self.settings).finish()
    }
}

enum Outcome<T> {
    Done(T),
    Failed(String),
    TimedOut,
    CircuitOpen,
}

impl MemcachedCache {
    /// A cache named `name` (its metrics label) over the servers of `settings`. Connections are
    /// made on first use.
    pub fn new(name: impl Into<String>, settings: MemcachedSettings, metrics: CacheMetrics) -> Arc<Self> {
        let permits = Semaphore::new(settings.parallelism.max(1));
        Arc::new(Self {
            name: name.into(),
            settings,
            metrics,
            topology: RwLock::new(Arc::new(Topology::default())),
            resolved_at: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            permits,
        })
    }

    /// The servers in use now (resolving them if that was never done).
    pub async fn servers(self: &Arc<Self>) -> Vec<String> {
        self.current_topology().await.selector.servers().to_vec()
    }

    /// The topology, resolved inline the first time and refreshed in the background when stale.
    async fn current_topology(self: &Arc<Self>) -> Arc<Topology> {
        let resolved_at = *self.resolved_at.lock();
        match resolved_at {
            None => self.refresh().await,
            Some(at) if at.elapsed() >= self.settings.update_interval && self.needs_dns() => {
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let this = Arc::clone(self);
                    tokio::spawn(async move {
                        this.refresh().await;
                        this.refreshing.store(false, Ordering::Release);
                    });
                }
            }
            Some(_) => {}
        }
        Arc::clone(&self.topology.read())
    }

    fn needs_dns(&self) -> bool {
        !self.settings.host.is_empty() || self.settings.addresses.iter().any(|a| a.starts_with("dns+"))
    }

    /// Resolves the server list and swaps the topology, keeping the pools of servers that stay.
    async fn refresh(&self) {
        let addresses = match self.resolve().await {
            Ok(addresses) => addresses,
            Err(error) => {
                tracing::warn!(cache = %self.name, %error, "cannot resolve memcached servers; keeping the previous list");
                *self.resolved_at.lock() = Some(Instant::now());
                return;
            }
        };
        let selector = ServerSelector::new(addresses, self.settings.consistent_hash);
        let previous = Arc::clone(&self.topology.read());
        let servers = selector
            .servers()
            .iter()
            .map(|address| {
                previous
                    .servers
                    .iter()
                    .find(|s| &s.address == address)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Server::new(address.clone())))
            })
            .collect();
        self.metrics
            .memcache_servers
            .get_or_create(&NameLabels { name: self.name.clone() })
            .set(selector.servers().len() as i64);
        *self.topology.write() = Arc::new(Topology { selector, servers });
        *self.resolved_at.lock() = Some(Instant::now());
    }

    async fn resolve(&self) -> Result<Vec<String>, String> {
        let mut resolved = Vec::new();
        for entry in &self.settings.addresses {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match entry.strip_prefix("dns+") {
                Some(name) => resolved.extend(lookup(name).await?),
                None => resolved.push(entry.to_string()),
            }
        }
        let host = self.settings.host.trim();
        if !host.is_empty() {
            let name = if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:{DEFAULT_MEMCACHED_PORT}")
            };
            resolved.extend(lookup(&name).await?);
        }
        Ok(resolved)
    }

    fn observe(&self, method: &str, status_code: &str, started: Instant) {
        let labels = MemcacheLabels {
            method: method.to_string(),
            status_code: status_code.to_string(),
            name: self.name.clone(),
        };
        self.metrics
            .memcache_request_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.metrics.memcache_requests.get_or_create(&labels).inc();
    }

    /// Runs `operation` on a pooled connection to `server` under the timeout and the breaker.
    async fn with_connection<T, F>(&self, server: &Server, operation: F) -> Outcome<T>
    where
        F: for<'c> FnOnce(&'c mut Client) -> futures::future::BoxFuture<'c, Result<T, MemcacheError>>,
    {
        if let Some(until) = *server.open_until.lock() {
            if Instant::now() < until {
                return Outcome::CircuitOpen;
            }
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return Outcome::Failed("cache closed".to_string());
        };
        let pooled = server.idle.lock().pop();
        let attempt = async {
            let mut client = match pooled {
                Some(Pooled(client)) => client,
                None => Client::new(format!("tcp://{}", server.address)).await?,
            };
            let result = operation(&mut client).await;
            Ok::<_, MemcacheError>((client, result))
        };
        let outcome = match tokio::time::timeout(self.settings.timeout, attempt).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(error)) => Outcome::Failed(error.to_string()),
            Ok(Ok((_client, Err(error)))) => Outcome::Failed(error.to_string()),
            Ok(Ok((client, Ok(value)))) => {
                let mut idle = server.idle.lock();
                if idle.len() < self.settings.max_idle_conns && !client.is_closed() {
                    idle.push(Pooled(client));
                }
                Outcome::Done(value)
            }
        };
        self.record_health(server, &outcome);
        outcome
    }

    fn record_health<T>(&self, server: &Server, outcome: &Outcome<T>) {
        let error = match outcome {
            Outcome::Done(_) => {
                server.consecutive_failures.store(0, Ordering::Relaxed);
                return;
            }
            Outcome::CircuitOpen => return,
            Outcome::TimedOut => "timed out".to_string(),
            Outcome::Failed(error) => error.clone(),
        };
        {
            let mut last = server.last_failure.lock();
            let interval = self.settings.circuit_breaker_interval;
            if !interval.is_zero() && last.is_some_and(|at| at.elapsed() > interval) {
                server.consecutive_failures.store(0, Ordering::Relaxed);
            }
            *last = Some(Instant::now());
        }
        let failures = server.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let threshold = self.settings.circuit_breaker_consecutive_failures;
        if threshold > 0 && failures >= threshold {
            *server.open_until.lock() = Some(Instant::now() + self.settings.circuit_breaker_timeout);
            if failures == threshold {
                tracing::warn!(cache = %self.name, server = %server.address, %error, failures,
                    "memcached server failing; skipping it for {:?}", self.settings.circuit_breaker_timeout);
            }
        } else if failures == 1 {
            tracing::warn!(cache = %self.name, server = %server.address, %error, "memcached request failed; treating as cache miss");
        } else {
            tracing::debug!(cache = %self.name, server = %server.address, %error, "memcached request failed");
        }
    }

    fn status_code<T>(outcome: &Outcome<T>) -> &'static str {
        match outcome {
            Outcome::Done(_) => "200",
            Outcome::Failed(_) => "500",
            Outcome::TimedOut => "timeout",
            Outcome::CircuitOpen => "circuit_open",
        }
    }

    fn ttl_seconds(&self) -> i64 {
        let seconds = self.settings.expiration.as_secs();
        if seconds == 0 || seconds <= MAX_RELATIVE_EXPIRATION_SECONDS {
            return seconds as i64;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        (now + seconds) as i64
    }

    /// Groups `keys` (by index) per server; keys without a server are left out.
    fn group(topology: &Topology, hashed: &[String]) -> HashMap<usize, Vec<usize>> {
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for (index, key) in hashed.iter().enumerate() {
            if let Some(server) = topology.selector.pick(hash64(key.as_bytes())) {
                groups.entry(server).or_default().push(index);
            }
        }
        groups
    }
}

async fn lookup(name: &str) -> Result<Vec<String>, String> {
    let addresses =
        tokio::net::lookup_host(name).await.map_err(|error| format!("resolving {name}: {error}"))?;
    Ok(addresses.map(|address| address.to_string()).collect())
}

/// Whether a multi-get error only means "none of the keys exist".
fn is_not_found(error: &MemcacheError) -> bool {
    matches!(error, MemcacheError::Protocol(Status::NotFound))
}

#[async_trait]
impl Cache for Arc<MemcachedCache> {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        let topology = self.current_topology().await;
        let max_item = self.settings.max_item_size;
        let entries: Vec<(String, Bytes)> = entries
            .into_iter()
            .filter(|(_, value)| max_item == 0 || value.len() <= max_item)
            .map(|(key, value)| (memcached_key(&key), value))
            .collect();
        let hashed: Vec<String> = entries.iter().map(|(key, _)| key.clone()).collect();
        let ttl = self.ttl_seconds();
        let batch_size = self.settings.batch_size.max(1);
        let mut requests = Vec::new();
        for (server, indexes) in MemcachedCache::group(&topology, &hashed) {
            for batch in indexes.chunks(batch_size) {
                let items: Vec<(String, Bytes)> = batch.iter().map(|&i| entries[i].clone()).collect();
                let server = Arc::clone(&topology.servers[server]);
                requests.push(async move {
                    let started = Instant::now();
                    let outcome = self
                        .with_connection(&server, move |client| {
                            Box::pin(async move {
                                let pairs: Vec<(&str, &[u8])> =
                                    items.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
                                let results = client.set_multi(&pairs, Some(ttl), None).await?;
                                Ok(results.values().filter(|r| r.is_err()).count())
                            })
                        })
                        .await;
                    if let Outcome::Done(rejected) = &outcome {
                        if *rejected > 0 {
                            tracing::debug!(cache = %self.name, rejected, "memcached refused some values (too large?)");
                        }
                    }
                    self.observe("Memcache.SetMulti", MemcachedCache::status_code(&outcome), started);
                });
            }
        }
        futures::future::join_all(requests).await;
    }

    async fn fetch(&self, keys: &[String]) -> Fetched {
        let topology = self.current_topology().await;
        let hashed: Vec<String> = keys.iter().map(|key| memcached_key(key)).collect();
        let batch_size = self.settings.batch_size.max(1);
        let mut requests = Vec::new();
        for (server, indexes) in MemcachedCache::group(&topology, &hashed) {
            for batch in indexes.chunks(batch_size) {
                let batch_keys: Vec<String> = batch.iter().map(|&i| hashed[i].clone()).collect();
                let server = Arc::clone(&topology.servers[server]);
                requests.push(async move {
                    let started = Instant::now();
                    let outcome = self
                        .with_connection(&server, move |client| {
                            Box::pin(async move {
                                match client.get_multi(&batch_keys).await {
                                    Ok(values) => Ok(values),
                                    Err(error) if is_not_found(&error) => Ok(Vec::new()),
                                    Err(error) => Err(error),
                                }
                            })
                        })
                        .await;
                    self.observe("Memcache.GetMulti", MemcachedCache::status_code(&outcome), started);
                    match outcome {
                        Outcome::Done(values) => values,
                        _ => Vec::new(),
                    }
                });
            }
        }
        let mut values: HashMap<Vec<u8>, Bytes> = HashMap::new();
        for batch in futures::future::join_all(requests).await {
            for value in batch {
                if let Some(data) = value.data {
                    values.insert(value.key, Bytes::from(data));
                }
            }
        }
        let mut fetched = Fetched::default();
        for (key, hashed_key) in keys.iter().zip(&hashed) {
            match values.get(hashed_key.as_bytes()) {
                Some(value) => fetched.found.push((key.clone(), value.clone())),
                None => fetched.missing.push(key.clone()),
            }
        }
        fetched
    }
}
