//! Per-series and per-metadata validation with Cortex's limits, discard reasons and messages.
//!
//! A series is checked in Cortex's order: `drop_labels` removed, metric name present and valid
//! (`enforce_metric_name`), labels with empty values removed (an empty value is the same as no
//! label in Prometheus), labels sorted, then label count, label names, lengths and duplicates,
//! then sample timestamps. The first failure drops the whole series, as Cortex does; its
//! samples are counted under the failure's reason.

use neocortex_core::{Limits, METRIC_NAME};
use neocortex_proto::prometheus::{Label, MetricMetadata, TimeSeries};

use crate::format::{format_label_set, go_quote_truncated, MESSAGE_TRUNCATE_CHARS};
use crate::names::{is_valid_label_name, is_valid_metric_name};

/// Discard reasons, named as Cortex names them in `cortex_discarded_samples_total` and
/// `cortex_discarded_metadata_total`.
pub mod reason {
    /// The series has no `__name__` label (or an empty one).
    pub const MISSING_METRIC_NAME: &str = "missing_metric_name";
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub const INVALID_METRIC_NAME: &str = "metric_name_invalid";
    /// More labels than `max_label_names_per_series`.
    pub const MAX_LABEL_NAMES_PER_SERIES: &str = "max_label_names_per_series";
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub const INVALID_LABEL: &str = "label_invalid";
    /// A label name is longer than `max_label_name_length`.
    pub const LABEL_NAME_TOO_LONG: &str = "label_name_too_long";
    /// A label value is longer than `max_label_value_length`.
    pub const LABEL_VALUE_TOO_LONG: &str = "label_value_too_long";
    /// Two labels share a name.
    pub const DUPLICATE_LABEL_NAMES: &str = "duplicate_label_names";
    /// A sample is older than `reject_old_samples_max_age`.
    pub const GREATER_THAN_MAX_SAMPLE_AGE: &str = "greater_than_max_sample_age";
    /// A sample is further in the future than `creation_grace_period`.
    pub const TOO_FAR_IN_FUTURE: &str = "too_far_in_future";
    /// The tenant's ingestion rate limit was exceeded.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Metadata metric family name longer than `max_metadata_length`.
    pub const METRIC_NAME_TOO_LONG: &str = "metric_name_too_long";
    /// Metadata help longer than `max_metadata_length`.
    pub const HELP_TOO_LONG: &str = "help_too_long";
    /// Metadata unit longer than `max_metadata_length`.
    pub const UNIT_TOO_LONG: &str = "unit_too_long";
}

/// Why a series or metadata entry was refused: the discard reason and Cortex's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The `reason` label value of the discarded counters.
    pub reason: &'static str,
    /// The message returned to the client.
    pub message: String,
}

impl ValidationError {
    fn new(reason: &'static str, message: String) -> Self {
        Self { reason, message }
    }
}

/// The limits that series validation reads, resolved once per request.
#[derive(Debug, Clone)]
pub struct SeriesRules<'a> {
    /// Label names removed from every series first.
    pub drop_labels: &'a [String],
    /// Whether a metric name is required.
    pub enforce_metric_name: bool,
    /// Most labels per series.
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// Samples older than this (ms since epoch) are refused; `i64::MIN` when disabled.
    pub min_timestamp_ms: i64,
    /// Samples newer than this (ms since epoch) are refused.
    pub max_timestamp_ms: i64,
}

impl<'a> SeriesRules<'a> {
    /// Resolves the rules of `limits` at wall-clock time `now_ms`.
    pub fn new(limits: &'a Limits, now_ms: i64) -> Self {
        let min_timestamp_ms = if limits.reject_old_samples {
            now_ms.saturating_sub(duration_ms(limits.reject_old_samples_max_age.0))
        } else {
            i64::MIN
        };
        Self {
            drop_labels: &limits.drop_labels,
            enforce_metric_name: limits.enforce_metric_name,
            max_label_names_per_series: limits.max_label_names_per_series,
            max_label_name_length: limits.max_label_name_length,
            max_label_value_length: limits.max_label_value_length,
            min_timestamp_ms,
            max_timestamp_ms: now_ms.saturating_add(duration_ms(limits.creation_grace_period.0)),
        }
    }
}

fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What became of a series after validation.
#[derive(Debug, PartialEq)]
pub enum SeriesOutcome {
    /// Valid; its labels are now sorted, without dropped or empty-valued labels.
    Valid,
    /// Nothing left to store (every label was dropped or empty); not an error.
    Empty,
}

/// Validates `series` in place (dropping labels, removing empty values, sorting).
pub fn validate_series(
    series: &mut TimeSeries,
    rules: &SeriesRules<'_>,
) -> Result<SeriesOutcome, ValidationError> {
    let labels = &mut series.labels;
    if !rules.drop_labels.is_empty() {
        labels.retain(|label| !rules.drop_labels.contains(&label.name));
    }
    if rules.enforce_metric_name {
        check_metric_name(labels)?;
    }
    if labels.iter().any(|label| label.value.is_empty()) {
        labels.retain(|label| !label.value.is_empty());
    }
    if labels.is_empty() {
        return Ok(SeriesOutcome::Empty);
    }
    if !labels.windows(2).all(|pair| pair[0].name <= pair[1].name) {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
    }
    check_labels(labels, rules)?;
    check_timestamps(series, rules)?;
    Ok(SeriesOutcome::Valid)
}

fn metric_name(labels: &[Label]) -> Option<&str> {
    labels.iter().find(|label| label.name == METRIC_NAME).map(|label| label.value.as_str())
}

fn check_metric_name(labels: &[Label]) -> Result<(), ValidationError> {
    match metric_name(labels) {
        None | Some("") => {
            Err(ValidationError::new(reason::MISSING_METRIC_NAME, "sample missing metric name".to_string()))
        }
        Some(name) if !is_valid_metric_name(name) => Err(ValidationError::new(
            reason::INVALID_METRIC_NAME,
            format!("sample invalid metric name: {}", go_quote_truncated(name)),
        )),
        Some(_) => Ok(()),
    }
}

fn label_set(labels: &[Label]) -> String {
    format_label_set(labels.iter().map(|label| (label.name.as_str(), label.value.as_str())))
}

/// Checks sorted labels: count, name syntax, name and value lengths, duplicates.
fn check_labels(labels: &[Label], rules: &SeriesRules<'_>) -> Result<(), ValidationError> {
    if labels.len() > rules.max_label_names_per_series {
        let series = label_set(labels);
        let end = series.char_indices().nth(MESSAGE_TRUNCATE_CHARS).map_or(series.len(), |(index, _)| index);
        return Err(ValidationError::new(
            reason::MAX_LABEL_NAMES_PER_SERIES,
            format!(
                "series has too many labels (actual: {}, limit: {}) series: '{}'",
                labels.len(),
                rules.max_label_names_per_series,
                &series[..end]
            ),
        ));
    }
    let mut previous_name: Option<&str> = None;
    for label in labels {
        let name = label.name.as_str();
        if !is_valid_label_name(name) {
            return Err(series_error(reason::INVALID_LABEL, "sample invalid label", name, labels));
        }
        if name.len() > rules.max_label_name_length {
            return Err(series_error(reason::LABEL_NAME_TOO_LONG, "label name too long", name, labels));
        }
        if label.value.len() > rules.max_label_value_length {
            return Err(ValidationError::new(
                reason::LABEL_VALUE_TOO_LONG,
                format!(
                    "label value too long for metric: {} label value: {}",
                    go_quote_truncated(&label_set(labels)),
                    go_quote_truncated(&label.value)
                ),
            ));
        }
        if previous_name == Some(name) {
            return Err(series_error(reason::DUPLICATE_LABEL_NAMES, "duplicate label name", name, labels));
        }
        previous_name = Some(name);
    }
    Ok(())
}

/// Cortex's `"<what>: %.200q metric %.200q"` messages.
fn series_error(reason: &'static str, what: &str, cause: &str, labels: &[Label]) -> ValidationError {
    ValidationError::new(
        reason,
        format!("{what}: {} metric {}", go_quote_truncated(cause), go_quote_truncated(&label_set(labels))),
    )
}

fn check_timestamps(series: &TimeSeries, rules: &SeriesRules<'_>) -> Result<(), ValidationError> {
    for sample in &series.samples {
        let timestamp = sample.timestamp;
        if timestamp < rules.min_timestamp_ms {
            return Err(sample_error(
                reason::GREATER_THAN_MAX_SAMPLE_AGE,
                "timestamp too old",
                timestamp,
                series,
            ));
        }
        if timestamp > rules.max_timestamp_ms {
            return Err(sample_error(reason::TOO_FAR_IN_FUTURE, "timestamp too new", timestamp, series));
        }
    }
    Ok(())
}

fn sample_error(reason: &'static str, what: &str, timestamp: i64, series: &TimeSeries) -> ValidationError {
    let name = metric_name(&series.labels).unwrap_or_default();
    ValidationError::new(reason, format!("{what}: {timestamp} metric: {}", go_quote_truncated(name)))
}

/// The limits that metadata validation reads.
#[derive(Debug, Clone, Copy)]
pub struct MetadataRules {
    /// Whether metadata must name its metric family.
    pub enforce_metadata_metric_name: bool,
    /// Longest metric family name, help or unit, in bytes.
    pub max_metadata_length: usize,
}

impl MetadataRules {
    /// The metadata rules of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            enforce_metadata_metric_name: limits.enforce_metadata_metric_name,
            max_metadata_length: limits.max_metadata_length,
        }
    }
}

/// Validates one metadata entry as Cortex does.
pub fn validate_metadata(metadata: &MetricMetadata, rules: MetadataRules) -> Result<(), ValidationError> {
    if rules.enforce_metadata_metric_name && metadata.metric_family_name.is_empty() {
        return Err(ValidationError::new(
            reason::MISSING_METRIC_NAME,
            "metadata missing metric name".to_string(),
        ));
    }
    let max = rules.max_metadata_length;
    let too_long = if metadata.metric_family_name.len() > max {
        Some(("METRIC_NAME", reason::METRIC_NAME_TOO_LONG, &metadata.metric_family_name))
    } else if metadata.help.len() > max {
        Some(("HELP", reason::HELP_TOO_LONG, &metadata.help))
    } else if metadata.unit.len() > max {
        Some(("UNIT", reason::UNIT_TOO_LONG, &metadata.unit))
    } else {
        None
    };
    let Some((field, reason, cause)) = too_long else {
        return Ok(());
    };
    Err(ValidationError::new(
        reason,
        format!(
            "metadata '{field}' value too long: {} metric {}",
            go_quote_truncated(cause),
            go_quote_truncated(&metadata.metric_family_name)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use neocortex_core::duration::ModelDuration;
    use neocortex_proto::prometheus::Sample;

    use super::*;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn series(pairs: &[(&str, &str)], timestamps: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: timestamps.iter().map(|&timestamp| Sample { value: 1.0, timestamp }).collect(),
            exemplars: vec![],
        }
    }

    fn check(limits: &Limits, mut input: TimeSeries) -> Result<(SeriesOutcome, TimeSeries), ValidationError> {
        let outcome = validate_series(&mut input, &SeriesRules::new(limits, NOW_MS))?;
        Ok((outcome, input))
    }

    fn names(series: &TimeSeries) -> Vec<&str> {
        series.labels.iter().map(|label| label.name.as_str()).collect()
    }

    #[test]
    fn a_valid_series_is_sorted() {
        let limits = Limits::default();
        let (outcome, output) =
            check(&limits, series(&[("job", "a"), ("__name__", "up"), ("instance", "x")], &[NOW_MS]))
                .unwrap();
        assert_eq!(outcome, SeriesOutcome::Valid);
        assert_eq!(names(&output), ["__name__", "instance", "job"]);
    }

    #[test]
    fn missing_and_empty_metric_names() {
        let limits = Limits::default();
        let error = check(&limits, series(&[("job", "a")], &[NOW_MS])).unwrap_err();
        assert_eq!(
            error,
            ValidationError::new(reason::MISSING_METRIC_NAME, "sample missing metric name".into())
        );
        let error = check(&limits, series(&[("__name__", ""), ("job", "a")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::MISSING_METRIC_NAME);
    }

    #[test]
    fn metric_name_not_enforced() {
        let limits = Limits { enforce_metric_name: false, ..Limits::default() };
        let (outcome, _) = check(&limits, series(&[("job", "a")], &[NOW_MS])).unwrap();
        assert_eq!(outcome, SeriesOutcome::Valid);
        // Without the name check, any `__name__` value is accepted, as in Cortex.
        let (outcome, _) = check(&limits, series(&[("__name__", "1bad")], &[NOW_MS])).unwrap();
        assert_eq!(outcome, SeriesOutcome::Valid);
    }

    #[test]
    fn invalid_metric_name() {
        let error =
            check(&Limits::default(), series(&[("__name__", "http-requests")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::INVALID_METRIC_NAME);
        assert_eq!(error.message, r#"sample invalid metric name: "http-requests""#);
    }

    #[test]
    fn empty_label_values_are_removed_and_an_empty_series_is_skipped() {
        let limits = Limits::default();
        let (_, output) =
            check(&limits, series(&[("__name__", "up"), ("job", ""), ("a", "b")], &[NOW_MS])).unwrap();
        assert_eq!(names(&output), ["__name__", "a"]);
        let limits = Limits { enforce_metric_name: false, ..Limits::default() };
        let (outcome, _) = check(&limits, series(&[("job", "")], &[NOW_MS])).unwrap();
        assert_eq!(outcome, SeriesOutcome::Empty);
        let (outcome, _) = check(&limits, series(&[], &[NOW_MS])).unwrap();
        assert_eq!(outcome, SeriesOutcome::Empty);
    }

    #[test]
    fn drop_labels_are_removed_before_validation() {
        let limits = Limits { drop_labels: vec!["bad-name".into(), "pod".into()], ..Limits::default() };
        let (_, output) = check(
            &limits,
            series(&[("__name__", "up"), ("bad-name", "x"), ("pod", "p"), ("z", "1")], &[NOW_MS]),
        )
        .unwrap();
        assert_eq!(names(&output), ["__name__", "z"]);
    }

    #[test]
    fn too_many_labels() {
        let limits = Limits { max_label_names_per_series: 2, ..Limits::default() };
        let error =
            check(&limits, series(&[("__name__", "up"), ("a", "1"), ("b", "2")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::MAX_LABEL_NAMES_PER_SERIES);
        assert_eq!(
            error.message,
            r#"series has too many labels (actual: 3, limit: 2) series: 'up{a="1", b="2"}'"#
        );
    }

    #[test]
    fn thousands_of_labels_give_a_bounded_message() {
        let pairs: Vec<(String, String)> =
            (0..5000).map(|i| (format!("label_{i:05}"), format!("v{i}"))).collect();
        let mut refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        refs.push(("__name__", "up"));
        let error = check(&Limits::default(), series(&refs, &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::MAX_LABEL_NAMES_PER_SERIES);
        assert!(error.message.starts_with("series has too many labels (actual: 5001, limit: 30)"));
        assert!(error.message.len() < 400, "{}", error.message.len());
    }

    #[test]
    fn invalid_label_name() {
        let error = check(&Limits::default(), series(&[("__name__", "up"), ("foo-bar", "x")], &[NOW_MS]))
            .unwrap_err();
        assert_eq!(error.reason, reason::INVALID_LABEL);
        assert_eq!(error.message, r#"sample invalid label: "foo-bar" metric "up{foo-bar=\"x\"}""#);
        let error =
            check(&Limits::default(), series(&[("__name__", "up"), ("é", "x")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::INVALID_LABEL);
    }

    #[test]
    fn label_name_too_long() {
        let limits = Limits { max_label_name_length: 5, ..Limits::default() };
        let error = check(&limits, series(&[("__name__", "up"), ("abcdef", "x")], &[NOW_MS])).unwrap_err();
        // `__name__` itself is 8 bytes and is checked first, as Cortex does.
        assert_eq!(error.reason, reason::LABEL_NAME_TOO_LONG);
        assert_eq!(error.message, r#"label name too long: "__name__" metric "up{abcdef=\"x\"}""#);
    }

    #[test]
    fn label_value_too_long() {
        let limits = Limits { max_label_value_length: 3, ..Limits::default() };
        let error = check(&limits, series(&[("__name__", "up"), ("a", "long")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::LABEL_VALUE_TOO_LONG);
        assert_eq!(error.message, r#"label value too long for metric: "up{a=\"long\"}" label value: "long""#);
        // Lengths are in bytes, as in Cortex.
        let error = check(&limits, series(&[("__name__", "up"), ("a", "éé")], &[NOW_MS])).unwrap_err();
        assert_eq!(error.reason, reason::LABEL_VALUE_TOO_LONG);
    }

    #[test]
    fn duplicate_label_names() {
        let error =
            check(&Limits::default(), series(&[("a", "1"), ("__name__", "up"), ("a", "2")], &[NOW_MS]))
                .unwrap_err();
        assert_eq!(error.reason, reason::DUPLICATE_LABEL_NAMES);
        assert_eq!(error.message, r#"duplicate label name: "a" metric "up{a=\"1\", a=\"2\"}""#);
        let error = check(&Limits::default(), series(&[("__name__", "up"), ("__name__", "down")], &[NOW_MS]))
            .unwrap_err();
        assert_eq!(error.reason, reason::DUPLICATE_LABEL_NAMES);
    }

    #[test]
    fn old_samples_only_when_enabled() {
        let old = NOW_MS - 15 * 24 * 3600 * 1000;
        let limits = Limits::default();
        assert!(check(&limits, series(&[("__name__", "up")], &[old])).is_ok());
        let limits = Limits { reject_old_samples: true, ..Limits::default() };
        let error = check(&limits, series(&[("__name__", "up")], &[NOW_MS, old])).unwrap_err();
        assert_eq!(error.reason, reason::GREATER_THAN_MAX_SAMPLE_AGE);
        assert_eq!(error.message, format!(r#"timestamp too old: {old} metric: "up""#));
        let limits = Limits {
            reject_old_samples: true,
            reject_old_samples_max_age: ModelDuration(Duration::from_secs(60)),
            ..Limits::default()
        };
        assert!(check(&limits, series(&[("__name__", "up")], &[NOW_MS - 59_000])).is_ok());
        assert!(check(&limits, series(&[("__name__", "up")], &[NOW_MS - 61_000])).is_err());
    }

    #[test]
    fn future_samples_beyond_the_grace_period() {
        let limits = Limits::default();
        assert!(check(&limits, series(&[("__name__", "up")], &[NOW_MS + 600_000])).is_ok());
        let error = check(&limits, series(&[("__name__", "up")], &[NOW_MS + 600_001])).unwrap_err();
        assert_eq!(error.reason, reason::TOO_FAR_IN_FUTURE);
        let error = check(&limits, series(&[("__name__", "up")], &[i64::MAX])).unwrap_err();
        assert_eq!(error.message, format!(r#"timestamp too new: {} metric: "up""#, i64::MAX));
    }

    #[test]
    fn extreme_limits_do_not_overflow() {
        let limits = Limits {
            reject_old_samples: true,
            reject_old_samples_max_age: ModelDuration(Duration::from_secs(u64::MAX / 2)),
            creation_grace_period: ModelDuration(Duration::from_secs(u64::MAX / 2)),
            ..Limits::default()
        };
        assert!(check(&limits, series(&[("__name__", "up")], &[-1_000_000_000_000_000, i64::MAX])).is_ok());
    }

    fn metadata(name: &str, help: &str, unit: &str) -> MetricMetadata {
        MetricMetadata { r#type: 1, metric_family_name: name.into(), help: help.into(), unit: unit.into() }
    }

    #[test]
    fn metadata_rules() {
        let rules = MetadataRules { enforce_metadata_metric_name: true, max_metadata_length: 4 };
        assert!(validate_metadata(&metadata("up", "help", ""), rules).is_ok());
        let error = validate_metadata(&metadata("", "h", ""), rules).unwrap_err();
        assert_eq!(
            error,
            ValidationError::new(reason::MISSING_METRIC_NAME, "metadata missing metric name".into())
        );
        let relaxed = MetadataRules { enforce_metadata_metric_name: false, ..rules };
        assert!(validate_metadata(&metadata("", "h", ""), relaxed).is_ok());
        let error = validate_metadata(&metadata("long_name", "", ""), rules).unwrap_err();
        assert_eq!(error.reason, reason::METRIC_NAME_TOO_LONG);
        assert_eq!(error.message, r#"metadata 'METRIC_NAME' value too long: "long_name" metric "long_name""#);
        let error = validate_metadata(&metadata("up", "helpful", ""), rules).unwrap_err();
        assert_eq!(error.reason, reason::HELP_TOO_LONG);
        assert_eq!(error.message, r#"metadata 'HELP' value too long: "helpful" metric "up""#);
        let error = validate_metadata(&metadata("up", "", "seconds"), rules).unwrap_err();
        assert_eq!(error.reason, reason::UNIT_TOO_LONG);
    }
}
