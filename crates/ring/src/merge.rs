//! Merging what several replicas return for one read, deduplicating identical samples.

use neocortex_core::{Sample, Series};

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
}
