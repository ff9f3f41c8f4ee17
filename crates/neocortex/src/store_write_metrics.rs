//! What the flush path writes into the chunk store, as metrics: Cortex's
//! `cortex_chunk_store_index_entries_per_chunk` histogram, so the index rows written per chunk
//! object (and, from its `_sum` and `_count`, the rows and objects in total) can be read off a
//! running binary, e.g. by the store benchmark.

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Handles to the store write metrics (clones share values).
#[derive(Debug, Clone)]
pub struct StoreWriteMetrics {
    index_entries_per_chunk: Histogram,
}

impl StoreWriteMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "cortex_chunk_store_index_entries_per_chunk",
            "Number of entries written to storage per chunk object (label rows are deduplicated across one flush batch, so each object of a batch counts the batch's average)",
            metrics.index_entries_per_chunk.clone(),
        );
        metrics
    }

    /// Metrics that are not exposed anywhere (tests, library use).
    pub fn unregistered() -> Self {
        // Cortex's buckets: 1, 2, 4, 8, 16 entries.
        Self { index_entries_per_chunk: Histogram::new(exponential_buckets(1.0, 2.0, 5)) }
    }

    /// Records one put of `objects` chunk objects that wrote `index_rows` index rows: one
    /// observation per object, of the batch's rows per object, so `_sum` is the rows written
    /// and `_count` the objects.
    pub fn observe_put(&self, objects: usize, index_rows: usize) {
        if objects == 0 {
            return;
        }
        let per_object = index_rows as f64 / objects as f64;
        for _ in 0..objects {
            self.index_entries_per_chunk.observe(per_object);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_is_the_rows_and_count_the_objects() {
        let mut registry = Registry::default();
        let metrics = StoreWriteMetrics::register(&mut registry);
        metrics.observe_put(4, 30);
        metrics.observe_put(0, 0);
        metrics.observe_put(1, 9);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("cortex_chunk_store_index_entries_per_chunk_sum 39.0"), "{text}");
        assert!(text.contains("cortex_chunk_store_index_entries_per_chunk_count 5"), "{text}");
        assert!(text.contains("le=\"8.0\"} 4"), "{text}");
    }
}
