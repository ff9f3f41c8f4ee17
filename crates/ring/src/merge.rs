//! Merging what several replicas return for one read, deduplicating identical samples.

use std::sync::Arc;

use neocortex_core::{LazySeries, QueryError, Sample, SampleSource, Series, SeriesSamples};

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
/// only stays as it is; one found in several stays encoded too, its parts merged when a reader
/// decodes it (earlier lists winning on equal timestamps), so merging an ingester's and the
/// store's answers decodes nothing up front.
pub fn merge_lazy_series(lists: Vec<Vec<LazySeries>>) -> Vec<LazySeries> {
    let mut lists: Vec<Vec<LazySeries>> = lists.into_iter().filter(|l| !l.is_empty()).collect();
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let mut all: Vec<LazySeries> = lists.into_iter().flatten().collect();
    // Stable: series with equal labels keep their lists' order.
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut merged: Vec<LazySeries> = Vec::with_capacity(all.len());
    let mut parts: Vec<SeriesSamples> = Vec::new();
    let mut all = all.into_iter().peekable();
    while let Some(series) = all.next() {
        parts.push(series.samples);
        if all.peek().is_some_and(|next| next.labels == series.labels) {
            continue;
        }
        let samples =
            if parts.len() == 1 { parts.pop().expect("one part") } else { merged_parts(&mut parts) };
        merged.push(LazySeries { labels: series.labels, samples });
    }
    merged
}

/// The samples of several answers for one series: merged at once when all are decoded already,
/// else a source that merges them when read.
fn merged_parts(parts: &mut Vec<SeriesSamples>) -> SeriesSamples {
    if parts.iter().all(|part| matches!(part, SeriesSamples::Decoded(_))) {
        let mut merged: Vec<Sample> = Vec::new();
        for part in parts.drain(..) {
            if let SeriesSamples::Decoded(samples) = part {
                merged = if merged.is_empty() { samples } else { merge_samples(&merged, &samples) };
            }
        }
        return SeriesSamples::Decoded(merged);
    }
    SeriesSamples::Lazy(Arc::new(MergedSamples { parts: std::mem::take(parts) }))
}

/// One series' samples from several answers, merged each time they are read.
#[derive(Debug)]
struct MergedSamples {
    /// The answers in priority order: on equal timestamps the earlier one's sample is kept.
    parts: Vec<SeriesSamples>,
}

impl SampleSource for MergedSamples {
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError> {
        let base = out.len();
        let mut buffer = Vec::new();
        for part in &self.parts {
            let samples = part.read(&mut buffer)?;
            let Some(first) = samples.first() else { continue };
            match out[base..].last() {
                // Disjoint and later (the usual case: the store's older part, the ingester's
                // newer one) appends; overlapping parts are merged.
                None => out.extend_from_slice(samples),
                Some(last) if last.timestamp_ms < first.timestamp_ms => out.extend_from_slice(samples),
                Some(_) => {
                    let earlier = out.split_off(base);
                    merge_samples_into(&earlier, samples, out);
                }
            }
        }
        Ok(())
    }
}

/// Merges two time-sorted sample lists; on equal timestamps the first list wins.
pub fn merge_samples(a: &[Sample], b: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    merge_samples_into(a, b, &mut out);
    out
}

/// Appends the merge of `a` and `b` to `out` (see [`merge_samples`]). Runs where one list is
/// ahead, or where both hold the same timestamps, are copied whole: the usual overlap is an
/// ingester answer and a store answer holding the same samples.
fn merge_samples_into(a: &[Sample], b: &[Sample], out: &mut Vec<Sample>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (next_a, next_b) = (a[i].timestamp_ms, b[j].timestamp_ms);
        if next_a < next_b {
            let end = i + a[i..].iter().take_while(|s| s.timestamp_ms < next_b).count();
            out.extend_from_slice(&a[i..end]);
            i = end;
        } else if next_b < next_a {
            let end = j + b[j..].iter().take_while(|s| s.timestamp_ms < next_a).count();
            out.extend_from_slice(&b[j..end]);
            j = end;
        } else {
            let same =
                a[i..].iter().zip(&b[j..]).take_while(|(x, y)| x.timestamp_ms == y.timestamp_ms).count();
            out.extend_from_slice(&a[i..i + same]);
            i += same;
            j += same;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
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
    use proptest::prelude::*;

    /// Sorted, unique timestamps from a bit mask, with values telling the lists apart.
    fn list(mask: u64, value: f64) -> Vec<Sample> {
        (0..64).filter(|bit| mask & (1 << bit) != 0).map(|bit| s(bit, value + bit as f64)).collect()
    }

    proptest! {
        #[test]
        fn merge_keeps_every_timestamp_once_and_the_first_lists_sample(a in any::<u64>(), b in any::<u64>()) {
            let (a, b) = (list(a, 1000.0), list(b, 2000.0));
            let mut want: std::collections::BTreeMap<i64, Sample> = b.iter().map(|x| (x.timestamp_ms, *x)).collect();
            want.extend(a.iter().map(|x| (x.timestamp_ms, *x)));
            let want: Vec<Sample> = want.into_values().collect();
            prop_assert_eq!(&merge_samples(&a, &b), &want);
            let mut out = vec![s(-5, 0.0)];
            merge_samples_into(&a, &b, &mut out);
            prop_assert_eq!(&out[1..], &want[..]);
        }
    }

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
        fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), QueryError> {
            out.extend_from_slice(&self.0);
            Ok(())
        }
    }

    fn lazy(name: &str, samples: Vec<Sample>) -> LazySeries {
        LazySeries {
            labels: Labels::from_pairs([("__name__", name)]),
            samples: SeriesSamples::Lazy(std::sync::Arc::new(Encoded(samples))),
        }
    }

    #[test]
    fn lazy_series_stay_encoded_and_merge_when_read() {
        let a = vec![lazy("a", vec![s(1, 1.0)]), lazy("b", vec![s(1, 10.0), s(3, 3.0)])];
        let b = vec![lazy("b", vec![s(1, 99.0), s(2, 2.0)]), lazy("c", vec![s(5, 5.0)])];
        let merged = merge_lazy_series(vec![a, b]);
        let names: Vec<_> =
            merged.iter().map(|m| m.labels.get("__name__").unwrap_or("").to_string()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(matches!(merged[0].samples, SeriesSamples::Lazy(_)));
        assert!(matches!(merged[2].samples, SeriesSamples::Lazy(_)));
        assert!(matches!(merged[1].samples, SeriesSamples::Lazy(_)));
        let b = merged[1].clone().into_series().unwrap();
        assert_eq!(b.samples, vec![s(1, 10.0), s(2, 2.0), s(3, 3.0)]);
    }

    #[test]
    fn merged_parts_append_disjoint_ranges_and_merge_overlaps_when_read() {
        let store = vec![lazy("x", vec![s(1, 1.0), s(2, 2.0)])];
        let ingester = vec![lazy("x", vec![s(2, 20.0), s(4, 4.0)])];
        let later = vec![lazy("x", vec![s(5, 5.0)])];
        let merged = merge_lazy_series(vec![ingester, store, later]);
        assert_eq!(merged.len(), 1);
        // Reading appends to what the buffer holds, like every source.
        let mut out = vec![s(-1, -1.0)];
        let SeriesSamples::Lazy(source) = &merged[0].samples else { panic!("stays lazy") };
        source.decode_into(&mut out).unwrap();
        assert_eq!(out, vec![s(-1, -1.0), s(1, 1.0), s(2, 20.0), s(4, 4.0), s(5, 5.0)]);
        let decoded = [Series { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![s(1, 1.0)] }];
        let merged = merge_lazy_series(vec![
            decoded.iter().cloned().map(LazySeries::from).collect(),
            vec![LazySeries::from(Series {
                labels: decoded[0].labels.clone(),
                samples: vec![s(1, 9.0), s(3, 3.0)],
            })],
        ]);
        assert!(
            matches!(&merged[0].samples, SeriesSamples::Decoded(samples) if samples == &vec![s(1, 1.0), s(3, 3.0)])
        );
    }
}
