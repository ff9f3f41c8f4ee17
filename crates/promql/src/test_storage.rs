//! A small in-memory `Queryable` for tests and the promqltest runner.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use neocortex_core::matcher::matches_all;
use neocortex_core::{
    Labels, LazySeries, Matcher, QueryError, Queryable, Sample, SampleSource, SelectHints, Series,
    SeriesSamples,
};
use parking_lot::RwLock;

/// Series held in memory, sorted by labels; samples sorted by time with unique timestamps.
#[derive(Debug, Default)]
pub struct TestStorage {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
}

impl TestStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series; a sample at an existing timestamp replaces the old one.
    pub fn add(&self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let mut all = self.series.write();
        let stored = all.entry(labels).or_default();
        for sample in samples {
            match stored.binary_search_by_key(&sample.timestamp_ms, |s| s.timestamp_ms) {
                Ok(i) => stored[i] = sample,
                Err(i) => stored.insert(i, sample),
            }
        }
    }

    /// Drops every series.
    pub fn clear(&self) {
        self.series.write().clear();
    }

    fn matching(&self, hints: SelectHints, matchers: &[Matcher]) -> Vec<Series> {
        self.series
            .read()
            .iter()
            .filter(|(labels, _)| matches_all(matchers, labels))
            .filter_map(|(labels, samples)| {
                let from = samples.partition_point(|s| s.timestamp_ms < hints.start_ms);
                let to = samples.partition_point(|s| s.timestamp_ms <= hints.end_ms);
                (from < to).then(|| Series { labels: labels.clone(), samples: samples[from..to].to_vec() })
            })
            .collect()
    }
}

#[async_trait]
impl Queryable for TestStorage {
    async fn select(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        Ok(self.matching(hints, matchers))
    }

    /// Every other series is handed out lazily, so tests exercise both kinds of samples.
    async fn select_lazy(
        &self,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<LazySeries>, QueryError> {
        let series = self.matching(hints, matchers).into_iter().enumerate();
        Ok(series
            .map(|(i, s)| match i % 2 {
                0 => {
                    LazySeries { labels: s.labels, samples: SeriesSamples::Lazy(Arc::new(Copied(s.samples))) }
                }
                _ => LazySeries::from(s),
            })
            .collect())
    }

    async fn label_names(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let mut names: Vec<String> = self
            .matching(hints, matchers)
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn label_values(
        &self,
        hints: SelectHints,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, QueryError> {
        let mut values: Vec<String> = self
            .matching(hints, matchers)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    async fn series(&self, hints: SelectHints, matchers: &[Matcher]) -> Result<Vec<Labels>, QueryError> {
        Ok(self.matching(hints, matchers).into_iter().map(|s| s.labels).collect())
    }
}

/// Samples that are copied out on every read, standing in for encoded chunks.
#[derive(Debug)]
struct Copied(Vec<Sample>);

impl SampleSource for Copied {
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}
