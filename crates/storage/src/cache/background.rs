//! Background write-back (Cortex's `background` block): stores are queued (at most
//! `writeback_buffer` batches) and written by `writeback_goroutines` tasks, so a slow or failing
//! memcached never delays a flush or a query. A full queue drops the batch and counts it in
//! `cortex_cache_dropped_background_writes_total`. Fetches go straight to the cache.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;

use crate::cache::config::BackgroundConfig;
use crate::cache::metrics::{CacheMetrics, NameLabels};
use crate::cache::{Cache, Fetched};

type Batch = Vec<(String, Bytes)>;

/// A cache whose stores are written back in the background.
pub struct BackgroundCache {
    inner: Arc<dyn Cache>,
    queue: Option<mpsc::Sender<Batch>>,
    dropped: Counter,
    queue_length: Gauge,
}

impl BackgroundCache {
    /// Writes back to `inner` with the tasks and buffer of `config`. Outside a tokio runtime, or
    /// with no tasks or buffer, stores are written inline.
    pub fn new(name: &str, inner: Arc<dyn Cache>, config: &BackgroundConfig, metrics: &CacheMetrics) -> Self {
        let labels = NameLabels { name: name.to_string() };
        let dropped = metrics.dropped_background_writes.get_or_create(&labels).clone();
        let queue_length = metrics.background_queue_length.get_or_create(&labels).clone();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let queue = match runtime {
            Some(runtime) if config.writeback_goroutines > 0 && config.writeback_buffer > 0 => {
                let (sender, receiver) = mpsc::channel::<Batch>(config.writeback_buffer);
                let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
                for _ in 0..config.writeback_goroutines {
                    let (receiver, inner, queue_length) =
                        (Arc::clone(&receiver), Arc::clone(&inner), queue_length.clone());
                    runtime.spawn(async move {
                        loop {
                            let batch = receiver.lock().await.recv().await;
                            let Some(batch) = batch else { break };
                            queue_length.dec();
                            inner.store(batch).await;
                        }
                    });
                }
                Some(sender)
            }
            _ => None,
        };
        Self { inner, queue, dropped, queue_length }
    }
}

#[async_trait]
impl Cache for BackgroundCache {
    async fn store(&self, entries: Vec<(String, Bytes)>) {
        let Some(queue) = &self.queue else {
            self.inner.store(entries).await;
            return;
        };
        self.queue_length.inc();
        if queue.try_send(entries).is_err() {
            self.queue_length.dec();
            self.dropped.inc();
        }
    }

    async fn fetch(&self, keys: &[String]) -> Fetched {
        self.inner.fetch(keys).await
    }

    fn in_process(&self) -> bool {
        self.inner.in_process()
    }
}
