//! Uniting the sorted answers of several `match[]` selectors without re-sorting everything.

use std::cmp::Ordering;

/// Merges lists that are each sorted and unique into one sorted, unique list, in linear time.
/// Lists that break the promise are sorted first, so the result is always correct.
pub(crate) fn merge_sorted_unique<T: Ord>(mut lists: Vec<Vec<T>>) -> Vec<T> {
    for list in &mut lists {
        if !list.is_sorted() {
            list.sort_unstable();
        }
    }
    let mut merged = match lists.pop() {
        Some(first) => first,
        None => return Vec::new(),
    };
    for list in lists {
        merged = merge_two(merged, list);
    }
    merged.dedup();
    merged
}

fn merge_two<T: Ord>(left: Vec<T>, right: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let order = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => l.cmp(r),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return out,
        };
        if order == Ordering::Equal {
            right.next();
        }
        let next = if order == Ordering::Greater { right.next() } else { left.next() };
        out.extend(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_deduplicates() {
        let merged = merge_sorted_unique(vec![vec![1, 3, 5], vec![2, 3, 6], vec![], vec![0, 5, 9]]);
        assert_eq!(merged, [0, 1, 2, 3, 5, 6, 9]);
        assert_eq!(merge_sorted_unique::<i32>(vec![]), Vec::<i32>::new());
        assert_eq!(merge_sorted_unique(vec![vec![3, 1, 1]]), [1, 3]);
        assert_eq!(merge_sorted_unique(vec![vec!["b", "a"], vec!["a", "c"]]), ["a", "b", "c"]);
    }
}
