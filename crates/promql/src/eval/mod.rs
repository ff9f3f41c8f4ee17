//! The synchronous evaluator: walks the syntax tree over all steps of a query, one node at a time,
//! reading pre-fetched series through per-series cursors (no window copies).

mod aggregate;
mod binary;
mod calls;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use neocortex_core::{is_stale_nan, Labels, LazySeries, Sample, SeriesSamples};

use crate::ast::{AtModifier, Expr, VectorSelector};
use crate::boundaries;
use crate::error::{duplicate_labelset, PromqlError};

/// The evaluation times of a node: `start`, `start + step`, ..., `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Steps {
    pub(crate) fn len(&self) -> usize {
        ((self.end - self.start) / self.step) as usize + 1
    }

    pub(crate) fn time(&self, index: usize) -> i64 {
        self.start + index as i64 * self.step
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        (0..self.len()).map(|i| (i, self.time(i)))
    }
}

/// The step index of each of one series' points, found by counting steps instead of dividing:
/// a series' points are at step times in ascending order, and one integer division per point is
/// a measurable share of folding millions of points.
pub(crate) struct StepCounter {
    index: usize,
    time: i64,
    step: i64,
}

impl StepCounter {
    /// A cursor at the first step.
    pub(crate) fn new(steps: &Steps) -> Self {
        Self { index: 0, time: steps.start, step: steps.step.max(1) }
    }

    /// The index of step time `t`, which must be at or after the time last asked for.
    pub(crate) fn index_of(&mut self, t: i64) -> usize {
        while self.time < t {
            self.index += 1;
            self.time += self.step;
        }
        self.index
    }
}

/// One output series of an instant-vector node: a point at each step where it has a value.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<Sample>,
}

/// The value of a node over all steps.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// An instant vector at every step.
    Vector(Vec<StepSeries>),
    /// Raw range-vector windows (only at the top of an instant query).
    Matrix(Vec<StepSeries>),
    /// A string literal.
    String(String),
}

impl Val {
    fn sample_count(&self) -> usize {
        match self {
            Val::Scalar(values) => values.len(),
            Val::Vector(series) | Val::Matrix(series) => series.iter().map(|s| s.points.len()).sum(),
            Val::String(_) => 0,
        }
    }
}

/// Series fetched for each selector, keyed by the selector's address in the syntax tree; their
/// samples may still be encoded and are decoded one series at a time while evaluating.
pub(crate) type FetchedSeries = HashMap<usize, Vec<LazySeries>>;

/// The key of a selector in `FetchedSeries`.
pub(crate) fn selector_key(selector: &VectorSelector) -> usize {
    selector as *const VectorSelector as usize
}

/// Settings and state of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    pub(crate) data: &'a FetchedSeries,
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) lookback_ms: i64,
    pub(crate) default_step_ms: i64,
    pub(crate) max_samples: usize,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<crate::engine::CancelHandle>,
    pub(crate) current_samples: usize,
    pub(crate) peak_samples: usize,
    /// Samples decoded from fetched series so far (the query's `totalQueryableSamples`).
    pub(crate) decoded_samples: usize,
    /// Threads that evaluate independent series at once (1 = the calling thread only).
    pub(crate) parallelism: usize,
}

/// The samples of one range-function input series.
pub(crate) enum RangeSamples<'a> {
    /// A selected series (staleness markers are dropped when read).
    Fetched(&'a SeriesSamples),
    /// A subquery's evaluated points.
    Owned(Vec<Sample>),
}

impl RangeSamples<'_> {
    /// The samples without staleness markers, decoded into `buffer` when they are encoded or
    /// need filtering; also returns how many samples were decoded.
    pub(crate) fn read<'s>(
        &'s self,
        buffer: &'s mut Vec<Sample>,
    ) -> Result<(&'s [Sample], usize), PromqlError> {
        match self {
            RangeSamples::Owned(samples) => Ok((samples, 0)),
            RangeSamples::Fetched(SeriesSamples::Decoded(samples)) => {
                if !samples.iter().any(|p| is_stale_nan(p.value)) {
                    return Ok((samples, 0));
                }
                buffer.clear();
                buffer.extend(samples.iter().copied().filter(|p| !is_stale_nan(p.value)));
                Ok((buffer, 0))
            }
            RangeSamples::Fetched(SeriesSamples::Lazy(source)) => {
                buffer.clear();
                source.decode_into(buffer)?;
                let decoded = buffer.len();
                if buffer.iter().any(|p| is_stale_nan(p.value)) {
                    buffer.retain(|p| !is_stale_nan(p.value));
                }
                Ok((buffer, decoded))
            }
        }
    }
}

thread_local! {
    /// Per-thread buffer that encoded series are decoded into, reused across series and queries.
    static DECODE_BUFFER: RefCell<Vec<Sample>> = const { RefCell::new(Vec::new()) };
}

/// Selected series an instant vector selector computes ahead of the one it keeps, at most.
const INSTANT_SERIES_WINDOW: usize = 256;

/// Calls `f` with this thread's decode buffer (a fresh one if it is already in use).
pub(crate) fn with_decode_buffer<T>(f: impl FnOnce(&mut Vec<Sample>) -> T) -> T {
    DECODE_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => f(&mut buffer),
        Err(_) => f(&mut Vec::new()),
    })
}

/// Shared state of [`parallel_ordered`].
struct OrderedState<T> {
    /// The next index to compute.
    next: usize,
    /// Indices below this were handed to the consumer.
    consumed: usize,
    /// Results from `consumed` on (`None` while still computing).
    ready: std::collections::VecDeque<Option<T>>,
    /// Set when the consumer stopped or a thread panicked.
    stop: bool,
}

/// Stops the other threads of [`parallel_ordered`] when the thread holding it unwinds, so that
/// nobody waits for a result that will never come.
struct StopOnPanic<'a, T>(&'a (Mutex<OrderedState<T>>, Condvar));

impl<T> Drop for StopOnPanic<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let (state, changed) = self.0;
            state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).stop = true;
            changed.notify_all();
        }
    }
}

/// Runs `work(i)` for every `i` in `0..n` on up to `threads` threads (the caller's included) and
/// hands each result to `consume(i, result)` on the calling thread in index order, so callers
/// combine them exactly as a sequential loop would. Consuming overlaps the work: the other
/// threads compute ahead (at most `window` results wait at once) and the caller computes too
/// whenever the next result is not ready. An error from `consume` stops the work and is
/// returned.
pub(crate) fn parallel_ordered<T: Send, E>(
    n: usize,
    threads: usize,
    window: usize,
    work: impl Fn(usize) -> T + Sync,
    mut consume: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads.min(n);
    if threads <= 1 {
        for i in 0..n {
            consume(i, work(i))?;
        }
        return Ok(());
    }
    let window = window.max(threads);
    let shared = (
        Mutex::new(OrderedState {
            next: 0,
            consumed: 0,
            ready: std::collections::VecDeque::new(),
            stop: false,
        }),
        Condvar::new(),
    );
    let lock = || shared.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Claims the next index if the window allows; `None` when there is none to claim now.
    let claim = |state: &mut OrderedState<T>| {
        (state.next < n && state.next < state.consumed + window).then(|| {
            let i = state.next;
            state.next += 1;
            state.ready.push_back(None);
            i
        })
    };
    let store = |i: usize, value: T| {
        let mut state = lock();
        let consumed = state.consumed;
        state.ready[i - consumed] = Some(value);
        drop(state);
        shared.1.notify_all();
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| {
                let _guard = StopOnPanic(&shared);
                let mut state = lock();
                loop {
                    if state.stop || state.next >= n {
                        return;
                    }
                    match claim(&mut state) {
                        Some(i) => {
                            drop(state);
                            store(i, work(i));
                            state = lock();
                        }
                        None => {
                            state = shared.1.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner)
                        }
                    }
                }
            });
        }
        let _guard = StopOnPanic(&shared);
        let finish = |state: &mut OrderedState<T>| {
            state.stop = true;
            shared.1.notify_all();
        };
        let mut state = lock();
        while state.consumed < n {
            if state.ready.front().is_some_and(Option::is_some) {
                let value = state.ready.pop_front().flatten().expect("a ready result");
                let i = state.consumed;
                state.consumed += 1;
                drop(state);
                shared.1.notify_all();
                let consumed = consume(i, value);
                state = lock();
                if let Err(error) = consumed {
                    finish(&mut state);
                    return Err(error);
                }
            } else if let Some(i) = claim(&mut state) {
                drop(state);
                let value = work(i);
                state = lock();
                let consumed = state.consumed;
                state.ready[i - consumed] = Some(value);
            } else if state.stop {
                // A helper panicked; the scope re-raises its panic.
                return Ok(());
            } else {
                state = shared.1.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        finish(&mut state);
        Ok(())
    })
}

/// A range-vector input of a function: series with their window samples and how to place windows.
pub(crate) struct RangeSource<'a> {
    pub(crate) series: Vec<(Labels, RangeSamples<'a>)>,
    pub(crate) range_ms: i64,
    pub(crate) offset_ms: i64,
    pub(crate) at: Option<i64>,
}

impl RangeSource<'_> {
    /// The reference (window end) time for evaluation time `t`.
    pub(crate) fn reference(&self, t: i64) -> i64 {
        self.at.unwrap_or(t).saturating_sub(self.offset_ms)
    }
}

/// Moves over one series' samples window by window as evaluation time increases.
pub(crate) struct WindowCursor {
    lo: usize,
    hi: usize,
}

impl WindowCursor {
    pub(crate) fn new() -> Self {
        Self { lo: 0, hi: 0 }
    }

    /// The samples inside `[start, end]` (per `boundaries`); windows must not move backwards.
    pub(crate) fn window<'s>(&mut self, samples: &'s [Sample], start: i64, end: i64) -> &'s [Sample] {
        if self.hi < self.lo {
            self.hi = self.lo;
        }
        while self.hi < samples.len() && !boundaries::after_window(samples[self.hi].timestamp_ms, end) {
            self.hi += 1;
        }
        while self.lo < self.hi && boundaries::before_window(samples[self.lo].timestamp_ms, start) {
            self.lo += 1;
        }
        &samples[self.lo..self.hi]
    }
}

/// Reads the value of each series at successive steps of a `Val::Vector`.
pub(crate) struct StepCursors {
    positions: Vec<usize>,
}

impl StepCursors {
    pub(crate) fn new(series: &[StepSeries]) -> Self {
        Self { positions: vec![0; series.len()] }
    }

    /// The value of series `index` at time `t`; steps must be visited in increasing order.
    pub(crate) fn value_at(&mut self, series: &[StepSeries], index: usize, t: i64) -> Option<f64> {
        let points = &series[index].points;
        let position = &mut self.positions[index];
        while *position < points.len() && points[*position].timestamp_ms < t {
            *position += 1;
        }
        match points.get(*position) {
            Some(point) if point.timestamp_ms == t => Some(point.value),
            _ => None,
        }
    }
}

/// Collects output series keyed by labels and rejects two values for one series at one step.
pub(crate) struct MatrixBuilder {
    series: Vec<StepSeries>,
    index: HashMap<Labels, usize>,
}

impl MatrixBuilder {
    pub(crate) fn new() -> Self {
        Self { series: Vec::new(), index: HashMap::new() }
    }

    /// The output slot for `labels`, created on first use.
    pub(crate) fn slot(&mut self, labels: Labels) -> usize {
        if let Some(&slot) = self.index.get(&labels) {
            return slot;
        }
        let slot = self.series.len();
        self.index.insert(labels.clone(), slot);
        self.series.push(StepSeries { labels, points: Vec::new() });
        slot
    }

    /// Appends a point; a second point at the same time means duplicate output labels.
    pub(crate) fn push(&mut self, slot: usize, timestamp_ms: i64, value: f64) -> Result<(), PromqlError> {
        let points = &mut self.series[slot].points;
        if points.last().is_some_and(|p| p.timestamp_ms == timestamp_ms) {
            return Err(duplicate_labelset());
        }
        points.push(Sample { timestamp_ms, value });
        Ok(())
    }

    /// The series that received at least one point. Series fed from several inputs may have
    /// received points out of order; two points at one step mean duplicate output labels.
    pub(crate) fn finish(self) -> Result<Vec<StepSeries>, PromqlError> {
        let mut out = Vec::with_capacity(self.series.len());
        for mut series in self.series {
            if series.points.is_empty() {
                continue;
            }
            let ordered = series.points.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms);
            if !ordered {
                series.points.sort_by_key(|p| p.timestamp_ms);
                if series.points.windows(2).any(|w| w[0].timestamp_ms == w[1].timestamp_ms) {
                    return Err(duplicate_labelset());
                }
            }
            out.push(series);
        }
        Ok(out)
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn resolve_at(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|at| match at {
            AtModifier::Timestamp(ms) => ms,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Stops the query when it ran past its timeout or its caller canceled it.
    pub(crate) fn check_deadline(&self) -> Result<(), PromqlError> {
        if self.cancel.as_ref().is_some_and(|c| c.is_canceled()) {
            return Err(PromqlError::Canceled("expression evaluation"));
        }
        match self.deadline {
            Some(deadline) if Instant::now() > deadline => Err(PromqlError::Timeout("expression evaluation")),
            _ => Ok(()),
        }
    }

    fn account(&mut self, samples: usize) -> Result<(), PromqlError> {
        self.current_samples += samples;
        self.peak_samples = self.peak_samples.max(self.current_samples);
        if self.current_samples > self.max_samples {
            return Err(PromqlError::TooManySamples("query execution"));
        }
        Ok(())
    }

    fn release(&mut self, samples: usize) {
        self.current_samples = self.current_samples.saturating_sub(samples);
    }

    /// Evaluates a child node whose value the caller consumes; its samples are accounted while alive.
    pub(crate) fn eval(&mut self, expr: &Expr, steps: &Steps) -> Result<Val, PromqlError> {
        self.check_deadline()?;
        let value = self.eval_node(expr, steps)?;
        self.account(value.sample_count())?;
        Ok(value)
    }

    /// Marks a child's value as consumed.
    pub(crate) fn done_with(&mut self, value: &Val) {
        self.release(value.sample_count());
    }

    fn eval_node(&mut self, expr: &Expr, steps: &Steps) -> Result<Val, PromqlError> {
        match expr {
            Expr::Number(value) => Ok(Val::Scalar(vec![*value; steps.len()])),
            Expr::String(text) => Ok(Val::String(text.clone())),
            Expr::Paren(inner) => self.eval_node(inner, steps),
            Expr::Unary { negate, expr } => {
                let value = self.eval_node(expr, steps)?;
                if !negate {
                    return Ok(value);
                }
                negate_value(value)
            }
            Expr::Binary { op, lhs, rhs, return_bool, matching } => {
                binary::eval_binary(self, *op, lhs, rhs, *return_bool, matching.as_ref(), steps)
            }
            Expr::Aggregate { op, expr, param, grouping, without } => {
                aggregate::eval_aggregate(self, *op, expr, param.as_deref(), grouping, *without, steps)
            }
            Expr::Call { func, args } => calls::eval_call(self, func, args, steps),
            Expr::VectorSelector(selector) => Ok(Val::Vector(self.select_instant(selector, steps, false)?)),
            Expr::MatrixSelector { .. } | Expr::Subquery { .. } => {
                let source = self.range_source(expr, steps)?;
                let t = steps.end;
                let reference = source.reference(t);
                let (start, end) = boundaries::range_window(reference, source.range_ms);
                let mut out = Vec::new();
                let mut buffer = Vec::new();
                for (labels, samples) in &source.series {
                    let (samples, decoded) = samples.read(&mut buffer)?;
                    self.decoded_samples += decoded;
                    let window = WindowCursor::new().window(samples, start, end);
                    if !window.is_empty() {
                        out.push(StepSeries { labels: labels.clone(), points: window.to_vec() });
                    }
                }
                Ok(Val::Matrix(out))
            }
        }
    }

    /// Evaluates an instant vector selector at every step. With `sample_time`, values are the
    /// sample timestamps in seconds (for `timestamp()`).
    pub(crate) fn select_instant(
        &mut self,
        selector: &VectorSelector,
        steps: &Steps,
        sample_time: bool,
    ) -> Result<Vec<StepSeries>, PromqlError> {
        let Some(fetched) = self.data.get(&selector_key(selector)) else {
            return Ok(Vec::new());
        };
        let at = self.resolve_at(selector.at);
        let (offset_ms, lookback_ms) = (selector.offset_ms, self.lookback_ms);
        // One series' points at every step, with how many samples were decoded for it.
        let series_points = |series: &LazySeries| -> Result<(Vec<Sample>, usize), PromqlError> {
            with_decode_buffer(|buffer| {
                let samples = series.samples.read(buffer)?;
                let decoded =
                    if matches!(series.samples, SeriesSamples::Lazy(_)) { samples.len() } else { 0 };
                let mut cursor = 0usize;
                let mut points = Vec::new();
                for (_, t) in steps.iter() {
                    let reference = at.unwrap_or(t).saturating_sub(offset_ms);
                    while cursor < samples.len() && samples[cursor].timestamp_ms <= reference {
                        cursor += 1;
                    }
                    if cursor == 0 {
                        continue;
                    }
                    let sample = samples[cursor - 1];
                    if !boundaries::within_lookback(sample.timestamp_ms, reference, lookback_ms)
                        || is_stale_nan(sample.value)
                    {
                        continue;
                    }
                    let value = if sample_time { sample.timestamp_ms as f64 / 1000.0 } else { sample.value };
                    points.push(Sample { timestamp_ms: t, value });
                }
                Ok((points, decoded))
            })
        };
        // Series are decoded and stepped on `parallelism` threads and kept in input order, as a
        // sequential loop would keep them.
        let mut out = Vec::with_capacity(fetched.len());
        let mut decoded_samples = 0;
        let shared: &Self = self;
        parallel_ordered(
            fetched.len(),
            self.parallelism,
            INSTANT_SERIES_WINDOW,
            |i| {
                shared.check_deadline()?;
                series_points(&fetched[i])
            },
            |i, output| {
                let (points, decoded) = output?;
                decoded_samples += decoded;
                if !points.is_empty() {
                    out.push(StepSeries { labels: fetched[i].labels.clone(), points });
                }
                Ok::<(), PromqlError>(())
            },
        )?;
        self.decoded_samples += decoded_samples;
        Ok(out)
    }

    /// The input of a range function: a matrix selector's series (staleness markers removed) or
    /// a subquery's evaluated series.
    pub(crate) fn range_source<'e>(
        &mut self,
        expr: &'e Expr,
        steps: &Steps,
    ) -> Result<RangeSource<'a>, PromqlError> {
        match expr.unparen() {
            Expr::MatrixSelector { selector, range_ms } => {
                let at = self.resolve_at(selector.at);
                let data: &'a FetchedSeries = self.data;
                let fetched: &'a [LazySeries] =
                    data.get(&selector_key(selector)).map(|v| v.as_slice()).unwrap_or(&[]);
                let series =
                    fetched.iter().map(|s| (s.labels.clone(), RangeSamples::Fetched(&s.samples))).collect();
                Ok(RangeSource { series, range_ms: *range_ms, offset_ms: selector.offset_ms, at })
            }
            Expr::Subquery { expr, range_ms, step_ms, offset_ms, at } => {
                let at = self.resolve_at(*at);
                let step = step_ms.unwrap_or(self.default_step_ms).max(1);
                let (outer_start, outer_end) = match at {
                    Some(at) => (at, at),
                    None => (steps.start, steps.end),
                };
                let inner_end = outer_end.saturating_sub(*offset_ms);
                let lowest = outer_start.saturating_sub(*offset_ms).saturating_sub(*range_ms);
                // The first step-aligned time at or after `lowest`.
                let inner_start = lowest
                    .div_euclid(step)
                    .saturating_mul(step)
                    .saturating_add(if lowest.rem_euclid(step) == 0 { 0 } else { step });
                let mut series = Vec::new();
                if inner_start <= inner_end {
                    // Every inner step of a non-empty result holds a sample; refuse before allocating.
                    if inner_end
                        .checked_sub(inner_start)
                        .is_none_or(|span| span / step >= self.max_samples as i64)
                    {
                        return Err(PromqlError::TooManySamples("query execution"));
                    }
                    let inner_steps = Steps { start: inner_start, end: inner_end, step };
                    let value = self.eval(expr, &inner_steps)?;
                    self.done_with(&value);
                    if let Val::Vector(inner) = value {
                        series =
                            inner.into_iter().map(|s| (s.labels, RangeSamples::Owned(s.points))).collect();
                    }
                }
                Ok(RangeSource { series, range_ms: *range_ms, offset_ms: *offset_ms, at })
            }
            other => Err(PromqlError::exec(format!("expected a range vector, got {:?}", other.value_type()))),
        }
    }

    /// Accounts the samples of one window while a range function looks at it.
    pub(crate) fn check_window(&mut self, samples: usize) -> Result<(), PromqlError> {
        if self.current_samples + samples > self.max_samples {
            return Err(PromqlError::TooManySamples("query execution"));
        }
        self.peak_samples = self.peak_samples.max(self.current_samples + samples);
        Ok(())
    }
}

fn negate_value(value: Val) -> Result<Val, PromqlError> {
    match value {
        Val::Scalar(values) => Ok(Val::Scalar(values.into_iter().map(|v| -v).collect())),
        Val::Vector(series) => {
            let mut seen = std::collections::HashSet::with_capacity(series.len());
            let mut out = Vec::with_capacity(series.len());
            for mut s in series {
                s.labels = s.labels.without_metric_name();
                for point in &mut s.points {
                    point.value = -point.value;
                }
                if !seen.insert(s.labels.clone()) {
                    return Err(duplicate_labelset());
                }
                out.push(s);
            }
            Ok(Val::Vector(out))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn step_counter_finds_the_index_a_division_would() {
        let steps = Steps { start: 1_000, end: 61_000, step: 15_000 };
        let mut counter = StepCounter::new(&steps);
        for index in [0, 1, 1, 3, 4] {
            let t = steps.time(index);
            assert_eq!(counter.index_of(t), index);
            assert_eq!(index, ((t - steps.start) / steps.step) as usize);
        }
        let instant = Steps { start: 5, end: 5, step: 1 };
        assert_eq!(StepCounter::new(&instant).index_of(5), 0);
    }

    #[test]
    fn parallel_ordered_consumes_in_order_within_its_window() {
        for (n, threads, window) in
            [(0, 4, 8), (1, 4, 1), (1000, 1, 8), (1000, 2, 1), (1000, 4, 16), (3, 8, 2)]
        {
            let working = AtomicUsize::new(0);
            let mut consumed = Vec::new();
            let result: Result<(), ()> = parallel_ordered(
                n,
                threads,
                window,
                |i| {
                    working.fetch_add(1, Ordering::SeqCst);
                    // Uneven work, so results finish out of order.
                    std::thread::sleep(std::time::Duration::from_micros((i % 7) as u64 * 20));
                    i * 2
                },
                |i, value| {
                    assert_eq!(value, i * 2);
                    // Never more than the window (or one per thread) computed ahead.
                    let ahead = working.load(Ordering::SeqCst) - consumed.len();
                    assert!(ahead <= window.max(threads.min(n)) + 1, "{ahead} ahead");
                    consumed.push(i);
                    Ok(())
                },
            );
            assert!(result.is_ok());
            assert_eq!(consumed, (0..n).collect::<Vec<_>>(), "n={n} threads={threads}");
        }
    }

    #[test]
    fn parallel_ordered_stops_at_the_first_error_in_order() {
        let computed = AtomicUsize::new(0);
        let mut consumed = Vec::new();
        let result = parallel_ordered(
            10_000,
            4,
            32,
            |i| {
                computed.fetch_add(1, Ordering::SeqCst);
                if i == 50 || i == 70 {
                    Err(i)
                } else {
                    Ok(i)
                }
            },
            |_, value| {
                consumed.push(value?);
                Ok(())
            },
        );
        assert_eq!(result, Err(50));
        assert_eq!(consumed, (0..50).collect::<Vec<_>>());
        assert!(computed.load(Ordering::SeqCst) < 200, "the work stopped");
    }

    #[test]
    fn parallel_ordered_reraises_a_panic_instead_of_hanging() {
        for panicking in [0, 1, 999] {
            let outcome = std::panic::catch_unwind(|| {
                parallel_ordered(
                    1000,
                    3,
                    8,
                    |i| {
                        if i == panicking {
                            panic!("work {i} failed");
                        }
                        i
                    },
                    |_, _| Ok::<(), ()>(()),
                )
            });
            assert!(outcome.is_err(), "the panic of work {panicking} reached the caller");
        }
    }
}
