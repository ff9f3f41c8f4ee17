//! The query engine: parse, find every selector and the time range it needs, fetch the series
//! through `Queryable::select`, then evaluate synchronously step by step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use neocortex_core::{Queryable, SelectHints};

use crate::ast::{AtModifier, Expr, ValueType, VectorSelector};
use crate::boundaries;
use crate::error::PromqlError;
use crate::eval::{selector_key, Evaluator, FetchedSeries, Steps, Val};
use crate::parser::parse;
use crate::value::{InstantSample, QueryValue, RangeSeries};

/// The most points a range query may return per series (Prometheus's API limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine settings (Prometheus's `-query.*` flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (`-query.lookback-delta`).
    pub lookback_delta: Duration,
    /// The most samples a query may hold in memory at once (`-query.max-samples`).
    pub max_samples: usize,
    /// The longest a query may run (`-query.timeout`).
    pub timeout: Duration,
    /// Step of subqueries written without one (`[5m:]`), Prometheus's evaluation interval.
    pub default_subquery_step: Duration,
    /// Whether the `@` modifier is allowed (Cortex's `-querier.at-modifier-enabled`).
    pub enable_at_modifier: bool,
    /// Whether negative `offset`s are allowed.
    pub enable_negative_offset: bool,
    /// Threads one query may use to evaluate independent series at once (at least 1).
    pub parallelism: usize,
}

/// The number of threads queries use by default: the machine's available parallelism.
pub fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
            enable_at_modifier: true,
            enable_negative_offset: true,
            parallelism: default_parallelism(),
        }
    }
}

/// Peak figures of one query, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples returned by storage for all selectors (encoded ones counted as they are decoded).
    pub fetched_samples: usize,
    /// The most samples held in memory at once during evaluation.
    pub peak_samples: usize,
    /// Time spent in `Queryable::select`.
    pub fetch_time: Duration,
    /// Time spent evaluating after the fetch.
    pub eval_time: Duration,
}

/// Lets a caller abort a running query from another task or thread; the engine checks it
/// between fetches and while evaluating.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// A handle that is not canceled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every query holding this handle to stop with `PromqlError::Canceled`.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel` was called.
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Evaluates PromQL with Prometheus 2.42 semantics over any `Queryable`.
///
/// Evaluation after the fetch is synchronous and CPU-bound; servers should run large queries on
/// a blocking-friendly thread. Dropping the query future cancels the fetch; a `CancelHandle`
/// (see [`Engine::with_cancel`]) also stops the evaluation.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    options: EngineOptions,
    cancel: Option<CancelHandle>,
}

/// The evaluation range of a query: one instant or a range with a step.
#[derive(Debug, Clone, Copy)]
struct QueryRange {
    start: i64,
    end: i64,
    step: i64,
    instant: bool,
}

impl Engine {
    /// An engine with the given settings.
    pub fn new(options: EngineOptions) -> Self {
        Self { options, cancel: None }
    }

    /// A copy of this engine whose queries stop with `PromqlError::Canceled` once `handle` is
    /// canceled.
    pub fn with_cancel(&self, handle: CancelHandle) -> Self {
        Self { options: self.options.clone(), cancel: Some(handle) }
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at `time_ms` (Prometheus `/api/v1/query`).
    pub async fn instant_query(
        &self,
        queryable: &dyn Queryable,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryValue, PromqlError> {
        let expr = parse(query)?;
        self.instant_query_expr(queryable, &expr, time_ms).await.map(|(value, _)| value)
    }

    /// Evaluates `query` from `start_ms` to `end_ms` every `step_ms` (Prometheus
    /// `/api/v1/query_range`); the result is a matrix sorted by labels.
    pub async fn range_query(
        &self,
        queryable: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryValue, PromqlError> {
        let expr = parse(query)?;
        self.range_query_expr(queryable, &expr, start_ms, end_ms, step_ms).await.map(|(value, _)| value)
    }

    /// Instant query over an already parsed expression, with statistics.
    pub async fn instant_query_expr(
        &self,
        queryable: &dyn Queryable,
        expr: &Expr,
        time_ms: i64,
    ) -> Result<(QueryValue, QueryStats), PromqlError> {
        let range = QueryRange { start: time_ms, end: time_ms, step: 1, instant: true };
        self.execute(queryable, expr, range).await
    }

    /// Range query over an already parsed expression, with statistics.
    pub async fn range_query_expr(
        &self,
        queryable: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<(QueryValue, QueryStats), PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadData("end timestamp must not be before start time".into()));
        }
        if (end_ms - start_ms) / step_ms >= MAX_POINTS_PER_SERIES {
            return Err(PromqlError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let ty = expr.value_type();
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            return Err(PromqlError::BadData(format!(
                "invalid expression type \"{ty}\" for range query, must be Scalar or instant Vector"
            )));
        }
        let range = QueryRange { start: start_ms, end: end_ms, step: step_ms, instant: false };
        self.execute(queryable, expr, range).await
    }

    async fn execute(
        &self,
        queryable: &dyn Queryable,
        expr: &Expr,
        range: QueryRange,
    ) -> Result<(QueryValue, QueryStats), PromqlError> {
        self.validate_modifiers(expr)?;
        let started = Instant::now();
        let deadline = started + self.options.timeout;
        let plan = SelectPlanner {
            query_start: range.start,
            query_end: range.end,
            lookback_ms: duration_ms(self.options.lookback_delta),
            default_step_ms: duration_ms(self.options.default_subquery_step).max(1),
        };
        let mut selections = Vec::new();
        plan.collect(expr, range.start, range.end, &mut selections);
        let mut data: FetchedSeries = HashMap::with_capacity(selections.len());
        let mut stats = QueryStats::default();
        for (selector, hints) in selections {
            let series = queryable.select_lazy(hints, &selector.matchers).await?;
            stats.fetched_samples += series
                .iter()
                .map(|s| match &s.samples {
                    neocortex_core::SeriesSamples::Decoded(samples) => samples.len(),
                    neocortex_core::SeriesSamples::Lazy(_) => 0,
                })
                .sum::<usize>();
            data.insert(selector_key(selector), series);
            if Instant::now() > deadline {
                return Err(PromqlError::Timeout("query queue"));
            }
            if self.cancel.as_ref().is_some_and(CancelHandle::is_canceled) {
                return Err(PromqlError::Canceled("query queue"));
            }
        }
        stats.fetch_time = started.elapsed();
        let mut evaluator = Evaluator {
            data: &data,
            query_start: range.start,
            query_end: range.end,
            lookback_ms: plan.lookback_ms,
            default_step_ms: plan.default_step_ms,
            max_samples: self.options.max_samples,
            deadline: Some(deadline),
            cancel: self.cancel.clone(),
            current_samples: 0,
            peak_samples: 0,
            decoded_samples: 0,
            parallelism: self.options.parallelism.max(1),
        };
        let steps = Steps { start: range.start, end: range.end, step: range.step };
        let value = evaluator.eval(expr, &steps)?;
        stats.peak_samples = evaluator.peak_samples;
        stats.fetched_samples += evaluator.decoded_samples;
        stats.eval_time = started.elapsed() - stats.fetch_time;
        tracing::debug!(
            fetched_samples = stats.fetched_samples,
            peak_samples = stats.peak_samples,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "promql query evaluated"
        );
        let result =
            if range.instant { instant_result(value, range.start) } else { range_result(value, &steps) };
        drop(evaluator);
        free_in_background(data);
        Ok((result, stats))
    }
}

/// Selections of at least this many series are freed off the query's thread.
const BACKGROUND_FREE_SERIES: usize = 1_000;

/// Frees a large selection on a background thread: the label sets and encoded samples of
/// thousands of series took milliseconds to free, which the answer need not wait for. Freed in
/// place when the background thread is behind or cannot start.
fn free_in_background(data: FetchedSeries) {
    static FREER: std::sync::OnceLock<Option<std::sync::mpsc::SyncSender<FetchedSeries>>> =
        std::sync::OnceLock::new();
    if data.values().map(Vec::len).sum::<usize>() < BACKGROUND_FREE_SERIES {
        return;
    }
    let freer = FREER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<FetchedSeries>(4);
        std::thread::Builder::new()
            .name("promql-free".to_string())
            .spawn(move || receiver.into_iter().for_each(drop))
            .ok()
            .map(|_| sender)
    });
    if let Some(sender) = freer {
        // A full queue hands the selection back, to be freed here.
        let _ = sender.try_send(data);
    }
}

impl Engine {
    /// Rejects `@` and negative offsets when they are disabled, as Prometheus's engine does.
    fn validate_modifiers(&self, expr: &Expr) -> Result<(), PromqlError> {
        if self.options.enable_at_modifier && self.options.enable_negative_offset {
            return Ok(());
        }
        let mut error = None;
        visit_modifiers(expr, &mut |at, offset_ms| {
            if at && !self.options.enable_at_modifier {
                error.get_or_insert("@ modifier is disabled");
            }
            if offset_ms < 0 && !self.options.enable_negative_offset {
                error.get_or_insert("negative offset is disabled");
            }
        });
        match error {
            Some(message) => Err(PromqlError::BadData(message.to_string())),
            None => Ok(()),
        }
    }
}

/// Calls `f(has_at, offset_ms)` for every selector and subquery.
fn visit_modifiers(expr: &Expr, f: &mut impl FnMut(bool, i64)) {
    match expr {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::Paren(inner) | Expr::Unary { expr: inner, .. } => visit_modifiers(inner, f),
        Expr::Binary { lhs, rhs, .. } => {
            visit_modifiers(lhs, f);
            visit_modifiers(rhs, f);
        }
        Expr::Aggregate { expr, param, .. } => {
            visit_modifiers(expr, f);
            if let Some(param) = param {
                visit_modifiers(param, f);
            }
        }
        Expr::Call { args, .. } => args.iter().for_each(|arg| visit_modifiers(arg, f)),
        Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => {
            f(selector.at.is_some(), selector.offset_ms)
        }
        Expr::Subquery { expr, offset_ms, at, .. } => {
            f(at.is_some(), *offset_ms);
            visit_modifiers(expr, f);
        }
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn instant_result(value: Val, time_ms: i64) -> QueryValue {
    match value {
        Val::Scalar(values) => {
            QueryValue::Scalar { timestamp_ms: time_ms, value: values.first().copied().unwrap_or(f64::NAN) }
        }
        Val::String(text) => QueryValue::String { timestamp_ms: time_ms, value: text },
        Val::Vector(series) => QueryValue::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    let point = s.points.last().copied()?;
                    Some(InstantSample {
                        labels: s.labels,
                        timestamp_ms: point.timestamp_ms,
                        value: point.value,
                    })
                })
                .collect(),
        ),
        Val::Matrix(series) => QueryValue::Matrix(
            series.into_iter().map(|s| RangeSeries { labels: s.labels, samples: s.points }).collect(),
        ),
    }
}

fn range_result(value: Val, steps: &Steps) -> QueryValue {
    let mut series: Vec<RangeSeries> = match value {
        Val::Scalar(values) => vec![RangeSeries {
            labels: neocortex_core::Labels::empty(),
            samples: steps
                .iter()
                .map(|(i, t)| neocortex_core::Sample { timestamp_ms: t, value: values[i] })
                .collect(),
        }],
        Val::String(_) => Vec::new(),
        Val::Vector(series) | Val::Matrix(series) => {
            series.into_iter().map(|s| RangeSeries { labels: s.labels, samples: s.points }).collect()
        }
    };
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    QueryValue::Matrix(series)
}

/// Works out, for every selector of a query, the time range storage must return.
struct SelectPlanner {
    query_start: i64,
    query_end: i64,
    lookback_ms: i64,
    default_step_ms: i64,
}

impl SelectPlanner {
    fn resolve_at(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|at| match at {
            AtModifier::Timestamp(ms) => ms,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// The reference (pre-offset evaluation) times a modifier-carrying node sees.
    fn reference_range(&self, at: Option<AtModifier>, offset_ms: i64, start: i64, end: i64) -> (i64, i64) {
        match self.resolve_at(at) {
            Some(at) => (at.saturating_sub(offset_ms), at.saturating_sub(offset_ms)),
            None => (start.saturating_sub(offset_ms), end.saturating_sub(offset_ms)),
        }
    }

    fn collect<'e>(
        &self,
        expr: &'e Expr,
        start: i64,
        end: i64,
        out: &mut Vec<(&'e VectorSelector, SelectHints)>,
    ) {
        match expr {
            Expr::Number(_) | Expr::String(_) => {}
            Expr::Paren(inner) | Expr::Unary { expr: inner, .. } => self.collect(inner, start, end, out),
            Expr::Binary { lhs, rhs, .. } => {
                self.collect(lhs, start, end, out);
                self.collect(rhs, start, end, out);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(param) = param {
                    self.collect(param, start, end, out);
                }
                self.collect(expr, start, end, out);
            }
            Expr::Call { args, .. } => {
                for arg in args {
                    self.collect(arg, start, end, out);
                }
            }
            Expr::VectorSelector(selector) => {
                let (first, last) = self.reference_range(selector.at, selector.offset_ms, start, end);
                let hints = SelectHints {
                    start_ms: boundaries::lookback_start(first, self.lookback_ms),
                    end_ms: last,
                };
                out.push((selector, hints));
            }
            Expr::MatrixSelector { selector, range_ms } => {
                let (first, last) = self.reference_range(selector.at, selector.offset_ms, start, end);
                let (window_start, _) = boundaries::range_window(first, *range_ms);
                out.push((selector, SelectHints { start_ms: window_start, end_ms: last }));
            }
            Expr::Subquery { expr, range_ms, offset_ms, at, .. } => {
                let (first, last) = self.reference_range(*at, *offset_ms, start, end);
                self.collect(expr, first.saturating_sub(*range_ms), last, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planner_accounts_for_offset_at_and_subqueries() {
        let planner =
            SelectPlanner { query_start: 0, query_end: 0, lookback_ms: 300_000, default_step_ms: 60_000 };
        let expr = parse("max_over_time(rate(x[1m] offset 1m)[10m:1m]) + y @ 1000").unwrap();
        let mut out = Vec::new();
        planner.collect(&expr, 3_600_000, 3_600_000, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].1,
            SelectHints { start_ms: 3_600_000 - 600_000 - 60_000 - 60_000, end_ms: 3_540_000 }
        );
        assert_eq!(out[1].1, SelectHints { start_ms: 1_000_000 - 300_000, end_ms: 1_000_000 });
        let _ = planner.default_step_ms;
    }
}
