//! Metric metadata (`TYPE`, `HELP`, `UNIT`) of one tenant: per metric family the distinct
//! entries seen, newest last, bounded by the tenant's metadata limits.

use std::collections::HashMap;

use neocortex_core::MetricMetadata;

/// Why a metadata entry was not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MetadataRejection {
    /// The tenant has metadata for `max_metadata_per_user` metrics already.
    #[error("per-user metric metadata limit of {0} exceeded")]
    PerUserLimit(u64),
}

/// The metadata store of one tenant.
#[derive(Debug, Default)]
pub(crate) struct MetadataStore {
    families: HashMap<String, Vec<MetricMetadata>>,
}

impl MetadataStore {
    /// Records `entry` as the newest for its family. A family at `max_per_metric` distinct
    /// entries forgets its oldest; a new family beyond `max_per_user` is refused (0 = no limit).
    pub(crate) fn add(
        &mut self,
        entry: MetricMetadata,
        max_per_user: u64,
        max_per_metric: u64,
    ) -> Result<(), MetadataRejection> {
        if let Some(entries) = self.families.get_mut(&entry.metric_family_name) {
            if let Some(position) = entries.iter().position(|existing| *existing == entry) {
                let existing = entries.remove(position);
                entries.push(existing);
                return Ok(());
            }
            if max_per_metric > 0 && entries.len() as u64 >= max_per_metric {
                entries.remove(0);
            }
            entries.push(entry);
            return Ok(());
        }
        if max_per_user > 0 && self.families.len() as u64 >= max_per_user {
            return Err(MetadataRejection::PerUserLimit(max_per_user));
        }
        self.families.insert(entry.metric_family_name.clone(), vec![entry]);
        Ok(())
    }

    /// Entries of `metric` (or of every metric, sorted by name), newest first per metric, for
    /// at most `limit` metrics.
    pub(crate) fn list(&self, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        let mut names: Vec<&String> = match metric {
            Some(name) => self.families.get_key_value(name).map(|(k, _)| k).into_iter().collect(),
            None => self.families.keys().collect(),
        };
        names.sort();
        names
            .into_iter()
            .take(limit.unwrap_or(usize::MAX))
            .flat_map(|name| self.families[name].iter().rev().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_family_name: name.to_string(),
            metric_type: "counter".to_string(),
            help: help.to_string(),
            unit: String::new(),
        }
    }

    #[test]
    fn keeps_latest_within_limits() {
        let mut store = MetadataStore::default();
        store.add(meta("a", "1"), 2, 2).expect("room");
        store.add(meta("a", "2"), 2, 2).expect("room");
        store.add(meta("a", "3"), 2, 2).expect("oldest evicted");
        store.add(meta("a", "2"), 2, 2).expect("refreshed");
        assert_eq!(store.list(Some("a"), None), vec![meta("a", "2"), meta("a", "3")]);
        store.add(meta("b", "1"), 2, 2).expect("room");
        assert_eq!(store.add(meta("c", "1"), 2, 2), Err(MetadataRejection::PerUserLimit(2)));
        assert_eq!(store.list(None, Some(1)).len(), 2);
        assert_eq!(store.list(None, None).len(), 3);
        assert!(store.list(Some("zzz"), None).is_empty());
    }
}
