//! The inverted index of one tenant: label name -> label value -> sorted series refs, and the
//! resolution of label matchers into series refs with Prometheus's semantics.
//!
//! A matcher that matches the empty string also selects series without the label, so it is
//! resolved as "every series except those whose value fails the matcher". Matchers that select
//! positively are intersected smallest first; the others are subtracted at the end.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use neocortex_core::{MatchOp, Matcher};

use crate::hash::PassThroughState;
use crate::interner::Interner;
use crate::regex_hint::{analyze, RegexHint};

/// A series reference: shard and slot packed in 32 bits (see `tenant`).
pub(crate) type SeriesRef = u32;

/// Sorted, unique series refs.
pub(crate) type PostingsList = Vec<SeriesRef>;

/// Values of one label name, sorted by value so that prefix scans read one range.
type ValuePostings = BTreeMap<Arc<str>, PostingsList>;

/// One label of a series, as interned ids plus the shared value string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelRef {
    /// Interned label name.
    pub(crate) name: u32,
    /// Interned label value.
    pub(crate) value: u32,
}

/// The postings index of one tenant.
#[derive(Debug, Default)]
pub(crate) struct PostingsIndex {
    by_name: HashMap<u32, ValuePostings, PassThroughState>,
    all: PostingsList,
}

/// Inserts `series` into a sorted list; new refs are almost always at or near the end.
fn insert_sorted(list: &mut PostingsList, series: SeriesRef) {
    match list.last() {
        None => list.push(series),
        Some(&last) if last < series => list.push(series),
        Some(_) => {
            if let Err(position) = list.binary_search(&series) {
                list.insert(position, series);
            }
        }
    }
}

fn remove_sorted(list: &mut PostingsList, series: SeriesRef) {
    if let Ok(position) = list.binary_search(&series) {
        list.remove(position);
    }
}

/// Sorted union of several sorted lists.
fn union(lists: Vec<&PostingsList>) -> PostingsList {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].clone(),
        _ => {
            let mut merged: PostingsList = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
            for list in lists {
                merged.extend_from_slice(list);
            }
            merged.sort_unstable();
            merged.dedup();
            merged
        }
    }
}

/// Sorted intersection of two sorted lists (gallops through the longer one).
fn intersect(small: &[SeriesRef], large: &[SeriesRef]) -> PostingsList {
    let mut out = Vec::with_capacity(small.len().min(large.len()));
    let mut rest = large;
    for &series in small {
        match rest.binary_search(&series) {
            Ok(position) => {
                out.push(series);
                rest = &rest[position + 1..];
            }
            Err(position) => rest = &rest[position..],
        }
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// `base` minus the sorted `remove`.
fn subtract(base: PostingsList, remove: &[SeriesRef]) -> PostingsList {
    if remove.is_empty() {
        return base;
    }
    let mut rest = remove;
    base.into_iter()
        .filter(|series| match rest.binary_search(series) {
            Ok(position) => {
                rest = &rest[position + 1..];
                false
            }
            Err(position) => {
                rest = &rest[position..];
                true
            }
        })
        .collect()
}

impl PostingsIndex {
    /// Adds a new series with its labels; `values` are the shared value strings, in label order.
    pub(crate) fn add(&mut self, series: SeriesRef, labels: &[LabelRef], interner: &Interner) {
        for label in labels {
            let Some(value) = interner.shared(label.value) else {
                continue;
            };
            let values = self.by_name.entry(label.name).or_default();
            match values.get_mut(&**value) {
                Some(list) => insert_sorted(list, series),
                None => {
                    values.insert(value.clone(), vec![series]);
                }
            }
        }
        insert_sorted(&mut self.all, series);
    }

    /// Removes a series (a flushed, emptied series leaving memory).
    pub(crate) fn remove(&mut self, series: SeriesRef, labels: &[LabelRef], interner: &Interner) {
        for label in labels {
            let Some(values) = self.by_name.get_mut(&label.name) else {
                continue;
            };
            let value = interner.resolve(label.value);
            if let Some(list) = values.get_mut(value) {
                remove_sorted(list, series);
                if list.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.by_name.remove(&label.name);
            }
        }
        remove_sorted(&mut self.all, series);
    }

    /// Heap bytes held, estimating B-tree nodes at one and a half entries per value.
    pub(crate) fn heap_bytes(&self) -> usize {
        let value_entry = std::mem::size_of::<(Arc<str>, PostingsList)>();
        let names = self.by_name.capacity() * (std::mem::size_of::<(u32, ValuePostings)>() + 1);
        let values: usize = self
            .by_name
            .values()
            .map(|values| {
                values.len() * value_entry * 3 / 2
                    + values
                        .values()
                        .map(|list| list.capacity() * std::mem::size_of::<SeriesRef>())
                        .sum::<usize>()
            })
            .sum();
        names + values + self.all.capacity() * std::mem::size_of::<SeriesRef>()
    }

    /// Number of series with `name`=`value`.
    pub(crate) fn count(&self, name: u32, value: &str) -> usize {
        self.by_name.get(&name).and_then(|values| values.get(value)).map_or(0, Vec::len)
    }

    /// Number of series indexed.
    #[cfg(test)]
    pub(crate) fn series_count(&self) -> usize {
        self.all.len()
    }

    /// Label name ids present in the index.
    pub(crate) fn names(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_name.keys().copied()
    }

    /// Values of label `name`, sorted.
    pub(crate) fn values(&self, name: u32) -> impl Iterator<Item = &Arc<str>> + '_ {
        self.by_name.get(&name).into_iter().flat_map(|values| values.keys())
    }

    /// The series matching every matcher, sorted.
    pub(crate) fn select(&self, matchers: &[Matcher], interner: &Interner) -> PostingsList {
        let mut positives: Vec<PostingsList> = Vec::new();
        let mut negatives: Vec<PostingsList> = Vec::new();
        for matcher in matchers {
            let values = interner.lookup(&matcher.name).and_then(|name| self.by_name.get(&name));
            if matcher.matches_empty() {
                // Series lacking the label match; remove those whose value fails.
                let failing =
                    values.map(|values| matching_postings(values, matcher, false)).unwrap_or_default();
                negatives.push(union(failing));
            } else {
                let passing =
                    values.map(|values| matching_postings(values, matcher, true)).unwrap_or_default();
                let list = union(passing);
                if list.is_empty() {
                    return Vec::new();
                }
                positives.push(list);
            }
        }
        positives.sort_by_key(Vec::len);
        let mut positives = positives.into_iter();
        let mut result = match positives.next() {
            Some(first) => first,
            None => self.all.clone(),
        };
        for list in positives {
            result = intersect(&result, &list);
            if result.is_empty() {
                return result;
            }
        }
        for list in &negatives {
            result = subtract(result, list);
        }
        result
    }
}

/// Postings lists of the values for which `matcher.matches(value) == wanted`, using direct
/// lookups and prefix ranges where the matcher allows.
fn matching_postings<'a>(
    values: &'a ValuePostings,
    matcher: &Matcher,
    wanted: bool,
) -> Vec<&'a PostingsList> {
    let scan = |keep: &dyn Fn(&str) -> bool| -> Vec<&'a PostingsList> {
        values.iter().filter(|(value, _)| keep(value)).map(|(_, list)| list).collect()
    };
    match (matcher.op, wanted) {
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => {
            values.get(matcher.value.as_str()).into_iter().collect()
        }
        (MatchOp::Equal, false) | (MatchOp::NotEqual, true) => scan(&|value| value != matcher.value),
        (MatchOp::RegexMatch, true) | (MatchOp::RegexNoMatch, false) => regex_matching(values, matcher),
        (MatchOp::RegexMatch, false) | (MatchOp::RegexNoMatch, true) => {
            if analyze(&matcher.value) == RegexHint::AnyNonEmpty {
                // `.` matches anything but a newline, so only such values fail `.*` / `.+`.
                return scan(&|value| value.contains('\n'));
            }
            scan(&|value| matcher.matches(value) == wanted)
        }
    }
}

/// Postings of the values the matcher's regex matches (whatever the matcher's polarity).
fn regex_matching<'a>(values: &'a ValuePostings, matcher: &Matcher) -> Vec<&'a PostingsList> {
    let regex_matches = |value: &str| match matcher.op {
        MatchOp::RegexNoMatch => !matcher.matches(value),
        _ => matcher.matches(value),
    };
    match analyze(&matcher.value) {
        RegexHint::Literals(literals) => {
            let mut lists: Vec<&PostingsList> =
                literals.iter().filter_map(|literal| values.get(literal.as_str())).collect();
            lists.dedup_by(|a, b| std::ptr::eq(*a, *b));
            lists
        }
        RegexHint::Prefix(prefix) => values
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(value, _)| value.starts_with(prefix.as_str()))
            .filter(|(value, _)| regex_matches(value))
            .map(|(_, list)| list)
            .collect(),
        RegexHint::AnyNonEmpty => {
            values.iter().filter(|(value, _)| !value.contains('\n')).map(|(_, list)| list).collect()
        }
        RegexHint::Scan => {
            values.iter().filter(|(value, _)| regex_matches(value)).map(|(_, list)| list).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_core::matcher::matches_all;
    use neocortex_core::Labels;
    use proptest::prelude::*;

    struct Fixture {
        interner: Interner,
        index: PostingsIndex,
        series: Vec<Labels>,
    }

    fn build(series: Vec<Labels>) -> Fixture {
        let interner = Interner::default();
        let mut index = PostingsIndex::default();
        // Refs deliberately not in creation order, as shard-packed refs are not.
        for (i, labels) in series.iter().enumerate() {
            let refs: Vec<LabelRef> = labels
                .iter()
                .map(|l| LabelRef { name: interner.intern(&l.name), value: interner.intern(&l.value) })
                .collect();
            index.add(scramble(i), &refs, &interner);
        }
        Fixture { interner, index, series }
    }

    fn scramble(i: usize) -> SeriesRef {
        ((i as u32 % 7) << 16) | (i as u32 / 7)
    }

    fn brute_force(fixture: &Fixture, matchers: &[Matcher]) -> PostingsList {
        let mut out: PostingsList = fixture
            .series
            .iter()
            .enumerate()
            .filter(|(_, labels)| matches_all(matchers, labels))
            .map(|(i, _)| scramble(i))
            .collect();
        out.sort_unstable();
        out
    }

    fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).expect("valid matcher")
    }

    #[test]
    fn empty_matching_matchers_select_series_without_the_label() {
        let fixture = build(vec![
            Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            Labels::from_pairs([("__name__", "up")]),
            Labels::from_pairs([("__name__", "up"), ("job", "b")]),
        ]);
        let select = |matchers: &[Matcher]| fixture.index.select(matchers, &fixture.interner);
        assert_eq!(select(&[m(MatchOp::Equal, "job", "")]), vec![scramble(1)]);
        assert_eq!(select(&[m(MatchOp::NotEqual, "job", "a")]).len(), 2);
        assert_eq!(select(&[m(MatchOp::RegexMatch, "job", "a|")]).len(), 2);
        assert_eq!(select(&[m(MatchOp::RegexNoMatch, "job", "a.*")]).len(), 2);
        assert_eq!(select(&[m(MatchOp::NotEqual, "job", "")]).len(), 2);
        assert_eq!(select(&[m(MatchOp::RegexMatch, "missing", ".*")]).len(), 3);
        assert!(select(&[m(MatchOp::RegexMatch, "missing", ".+")]).is_empty());
    }

    #[test]
    fn removal_drops_empty_values() {
        let mut fixture = build(vec![Labels::from_pairs([("a", "1")]), Labels::from_pairs([("a", "2")])]);
        let refs = vec![LabelRef {
            name: fixture.interner.lookup("a").expect("interned"),
            value: fixture.interner.lookup("1").expect("interned"),
        }];
        fixture.index.remove(scramble(0), &refs, &fixture.interner);
        let name = fixture.interner.lookup("a").expect("interned");
        assert_eq!(fixture.index.values(name).map(|v| v.to_string()).collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(fixture.index.series_count(), 1);
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        prop::collection::vec((0usize..4, 0usize..6), 0..5).prop_map(|pairs| {
            let names = ["__name__", "job", "instance", "mode"];
            let values = ["a", "ab", "abc", "b", "node_cpu", "a\nb"];
            let mut labels = Labels::empty();
            for (name, value) in pairs {
                labels.set(names[name], values[value]);
            }
            labels
        })
    }

    fn matcher() -> impl Strategy<Value = Matcher> {
        let names = prop::sample::select(vec!["__name__", "job", "instance", "mode", "absent"]);
        let values = prop::sample::select(vec![
            "", "a", "ab", "b", "abc", "a.*", "ab?", "a|b", "a|", ".*", ".+", "node_.*", "(a|b)c?", "x",
        ]);
        let ops = prop::sample::select(vec![
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::RegexMatch,
            MatchOp::RegexNoMatch,
        ]);
        (ops, names, values).prop_map(|(op, name, value)| m(op, name, value))
    }

    proptest! {
        #[test]
        fn select_agrees_with_brute_force(
            series in prop::collection::vec(label_set(), 0..40),
            matchers in prop::collection::vec(matcher(), 0..4),
        ) {
            let fixture = build(series);
            prop_assert_eq!(fixture.index.select(&matchers, &fixture.interner), brute_force(&fixture, &matchers));
        }
    }
}
