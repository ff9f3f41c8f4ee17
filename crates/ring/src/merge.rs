//! Merging what several replicas return for one read, deduplicating identical samples.

use neocortex_core::{LazySeries, Sample, Series, SeriesSamples};

/// Merges series lists that are each sorted by labels into one sorted list, merging the samples
/// of series with equal labels and keeping one sample per timestamp.
pub fn merge_series(lists: Vec<Vec<Series>>) -> Vec<Series> {
    let mut lists: Vec<Vec<Series>> = lists.into_iter().filter(|l| !l.is_empty()).collect();
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let mut all: Vec<Series> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut merged: Vec<Series> = Vec::with_capacity(all.len());
    for series in all {
        match merged.last_mut() {
            Some(last) if last.labels == series.labels => {
                last.samples = merge_samples(&last.samples, &series.samples);
            }
            _ => merged.push(series),
        }
    }
    merged
}

/// As `merge_series` for series whose samples may still be encoded: a series found in one list
/// only stays as it is (encoded samples stay encoded); one found in several is decoded and merged,
/// earlier lists winning on equal timestamps.
pub fn merge_lazy_series(lists: Vec<Vec<LazySeries>>) -> Vec<LazySeries> {
    let mut lists: Vec<Vec<LazySeries>> = lists.into_iter().filter(|l| !l.is_empty()).collect();
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let mut all: Vec<LazySeries> = lists.into_iter().flatten().collect();
    // Stable: series with equal labels keep their lists' order.
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut merged: Vec<LazySeries> = Vec::with_capacity(all.len());
    for series in all {
        match merged.last_mut() {
            Some(last) if last.labels == series.labels => {
                let mut first = Vec::new();
                let mut second = Vec::new();
                let merged_samples =
                    merge_samples(last.samples.read(&mut first), series.samples.read(&mut second));
                last.samples = SeriesSamples::Decoded(merged_samples);
            }
            _ => merged.push(series),
        }
    }
    merged
}

/// Merges two time-sorted sample lists; on equal timestamps the first list wins.
pub fn merge_samples(a: &[Sample], b: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].timestamp_ms.cmp(&b[j].timestamp_ms) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Merges sorted string lists into one sorted, unique list.
pub fn merge_strings(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_core::Labels;

    fn s(t: i64, v: f64) -> Sample {
        Sample { timestamp_ms: t, value: v }
    }

    #[test]
    fn replicas_merge_without_duplicates() {
        let labels = Labels::from_pairs([("__name__", "x")]);
        let a = vec![Series { labels: labels.clone(), samples: vec![s(1, 1.0), s(3, 3.0)] }];
        let b = vec![Series { labels: labels.clone(), samples: vec![s(1, 1.0), s(2, 2.0)] }];
        let merged = merge_series(vec![a, b]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].samples, vec![s(1, 1.0), s(2, 2.0), s(3, 3.0)]);
    }

    #[derive(Debug)]
    struct Encoded(Vec<Sample>);

    impl neocortex_core::SampleSource for Encoded {
        fn decode_into(&self, out: &mut Vec<Sample>) {
            out.extend_from_slice(&self.0);
        }
    }

    fn lazy(name: &str, samples: Vec<Sample>) -> LazySeries {
        LazySeries {
            labels: Labels::from_pairs([("__name__", name)]),
            samples: SeriesSamples::Lazy(std::sync::Arc::new(Encoded(samples))),
        }
    }

    #[test]
    fn lazy_series_stay_encoded_unless_both_lists_hold_them() {
        let a = vec![lazy("a", vec![s(1, 1.0)]), lazy("b", vec![s(1, 10.0), s(3, 3.0)])];
        let b = vec![lazy("b", vec![s(1, 99.0), s(2, 2.0)]), lazy("c", vec![s(5, 5.0)])];
        let merged = merge_lazy_series(vec![a, b]);
        let names: Vec<_> =
            merged.iter().map(|m| m.labels.get("__name__").unwrap_or("").to_string()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(matches!(merged[0].samples, SeriesSamples::Lazy(_)));
        assert!(matches!(merged[2].samples, SeriesSamples::Lazy(_)));
        let b = merged[1].clone().into_series();
        assert_eq!(b.samples, vec![s(1, 10.0), s(2, 2.0), s(3, 3.0)]);
    }
}
