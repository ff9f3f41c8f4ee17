//! Function calls: range-vector functions over sliding windows, and instant-vector functions.

use std::collections::{HashMap, HashSet};

use neocortex_core::labels::is_valid_label_name;
use neocortex_core::{Labels, MatchOp, Sample, METRIC_NAME};
use regex::Regex;

use super::{Evaluator, MatrixBuilder, StepCursors, StepSeries, Steps, Val, WindowCursor};
use crate::ast::{Expr, ValueType};
use crate::boundaries;
use crate::error::{duplicate_labelset, PromqlError};
use crate::functions::{
    bucket_quantile, civil_time, days_in_month, extrapolated_rate, go_max, go_min, holt_winters,
    instant_value, linear_regression, quantile, Bucket, ExtrapolationMemo, FunctionDef, FunctionKind as K,
    KahanSum, WindowContext,
};
use crate::gomath;

pub(super) fn eval_call(
    ev: &mut Evaluator<'_>,
    func: &FunctionDef,
    args: &[Expr],
    steps: &Steps,
) -> Result<Val, PromqlError> {
    if args.iter().any(|a| a.value_type() == ValueType::Matrix) {
        return eval_range_function(ev, func.kind, args, steps);
    }
    match func.kind {
        K::Time => Ok(Val::Scalar(steps.iter().map(|(_, t)| t as f64 / 1000.0).collect())),
        K::Pi => Ok(Val::Scalar(vec![std::f64::consts::PI; steps.len()])),
        K::Vector => {
            let values = eval_scalar(ev, &args[0], steps)?;
            let points = steps.iter().map(|(i, t)| Sample { timestamp_ms: t, value: values[i] }).collect();
            Ok(Val::Vector(vec![StepSeries { labels: Labels::empty(), points }]))
        }
        K::Scalar => {
            let input = eval_vector(ev, &args[0], steps)?;
            let mut cursors = StepCursors::new(&input);
            let mut out = Vec::with_capacity(steps.len());
            for (_, t) in steps.iter() {
                let mut found = None;
                let mut count = 0;
                for index in 0..input.len() {
                    if let Some(value) = cursors.value_at(&input, index, t) {
                        count += 1;
                        found = Some(value);
                    }
                }
                out.push(if count == 1 { found.unwrap_or(f64::NAN) } else { f64::NAN });
            }
            Ok(Val::Scalar(out))
        }
        K::Absent => {
            let input = eval_vector(ev, &args[0], steps)?;
            let mut present = vec![false; steps.len()];
            for series in &input {
                for point in &series.points {
                    present[((point.timestamp_ms - steps.start) / steps.step) as usize] = true;
                }
            }
            let points: Vec<Sample> = steps
                .iter()
                .filter(|(i, _)| !present[*i])
                .map(|(_, t)| Sample { timestamp_ms: t, value: 1.0 })
                .collect();
            if points.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(Val::Vector(vec![StepSeries { labels: absent_labels(&args[0]), points }]))
        }
        K::Timestamp => {
            if let Expr::VectorSelector(selector) = args[0].unparen() {
                let input = ev.select_instant(selector, steps, true)?;
                return map_vector(input, true, |_, value| Some(value)).map(Val::Vector);
            }
            let input = eval_vector(ev, &args[0], steps)?;
            map_vector(input, true, |t, _| Some(t as f64 / 1000.0)).map(Val::Vector)
        }
        K::Sort | K::SortDesc => {
            let mut input = eval_vector(ev, &args[0], steps)?;
            let descending = func.kind == K::SortDesc;
            let last = steps.end;
            let value_at_end =
                |s: &StepSeries| s.points.last().filter(|p| p.timestamp_ms == last).map(|p| p.value);
            if input.len() <= GO_INSERTION_SORT_MAX {
                // Go sorts short slices by insertion sort with Prometheus's NaN-first `Less`,
                // which also fixes the order of ties and NaNs; replay it exactly.
                let values: Vec<f64> = input.iter().map(|s| value_at_end(s).unwrap_or(f64::NAN)).collect();
                let mut order: Vec<usize> = (0..input.len()).collect();
                let less = |i: f64, j: f64| j.is_nan() || if descending { j < i } else { j > i };
                for i in 1..order.len() {
                    let mut j = i;
                    while j > 0 && less(values[order[j]], values[order[j - 1]]) {
                        order.swap(j, j - 1);
                        j -= 1;
                    }
                }
                let mut slots: Vec<Option<StepSeries>> = input.into_iter().map(Some).collect();
                return Ok(Val::Vector(order.into_iter().filter_map(|i| slots[i].take()).collect()));
            }
            input.sort_by(|a, b| {
                let (a, b) = (value_at_end(a).unwrap_or(f64::NAN), value_at_end(b).unwrap_or(f64::NAN));
                sort_order(a, b, descending)
            });
            Ok(Val::Vector(input))
        }
        K::LabelReplace => label_replace(ev, args, steps).map(Val::Vector),
        K::LabelJoin => label_join(ev, args, steps).map(Val::Vector),
        K::HistogramQuantile => histogram_quantile(ev, args, steps).map(Val::Vector),
        K::HistogramCount | K::HistogramSum | K::HistogramFraction => Err(PromqlError::exec(format!(
            "{}: native histograms are not supported by this engine",
            func.name
        ))),
        K::Round => {
            let input = eval_vector(ev, &args[0], steps)?;
            let nearest = match args.get(1) {
                Some(arg) => eval_scalar(ev, arg, steps)?,
                None => vec![1.0; steps.len()],
            };
            map_vector(input, true, |t, v| {
                let inverse = 1.0 / nearest[step_of(steps, t)];
                Some((v * inverse + 0.5).floor() / inverse)
            })
            .map(Val::Vector)
        }
        K::Clamp => {
            let input = eval_vector(ev, &args[0], steps)?;
            let min = eval_scalar(ev, &args[1], steps)?;
            let max = eval_scalar(ev, &args[2], steps)?;
            map_vector(input, true, |t, v| {
                let step = step_of(steps, t);
                if max[step] < min[step] {
                    return None;
                }
                Some(go_max(min[step], go_min(max[step], v)))
            })
            .map(Val::Vector)
        }
        K::ClampMax | K::ClampMin => {
            let input = eval_vector(ev, &args[0], steps)?;
            let bound = eval_scalar(ev, &args[1], steps)?;
            let is_max = func.kind == K::ClampMax;
            map_vector(input, true, |t, v| {
                let b = bound[step_of(steps, t)];
                Some(if is_max { go_min(v, b) } else { go_max(v, b) })
            })
            .map(Val::Vector)
        }
        K::DaysInMonth
        | K::DayOfMonth
        | K::DayOfWeek
        | K::DayOfYear
        | K::Hour
        | K::Minute
        | K::Month
        | K::Year => {
            let kind = func.kind;
            let input = match args.first() {
                Some(arg) => eval_vector(ev, arg, steps)?,
                None => vec![StepSeries {
                    labels: Labels::empty(),
                    points: steps
                        .iter()
                        .map(|(_, t)| Sample { timestamp_ms: t, value: t as f64 / 1000.0 })
                        .collect(),
                }],
            };
            map_vector(input, true, |_, v| Some(date_part(kind, v))).map(Val::Vector)
        }
        kind => {
            let Some(f) = simple_math(kind) else {
                return Err(PromqlError::exec(format!("function {:?} is not implemented", func.name)));
            };
            let input = eval_vector(ev, &args[0], steps)?;
            map_vector(input, true, |_, v| Some(f(v))).map(Val::Vector)
        }
    }
}

/// Go's `sort.Sort` uses insertion sort up to this many elements.
const GO_INSERTION_SORT_MAX: usize = 12;

fn step_of(steps: &Steps, t: i64) -> usize {
    ((t - steps.start) / steps.step) as usize
}

fn sort_order(a: f64, b: f64, descending: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn simple_math(kind: K) -> Option<fn(f64) -> f64> {
    Some(match kind {
        K::Abs => f64::abs,
        K::Ceil => f64::ceil,
        K::Floor => f64::floor,
        K::Exp => gomath::exp,
        K::Sqrt => f64::sqrt,
        K::Ln => gomath::log,
        K::Log2 => gomath::log2,
        K::Log10 => gomath::log10,
        K::Sin => gomath::sin,
        K::Cos => gomath::cos,
        K::Tan => gomath::tan,
        K::Asin => gomath::asin,
        K::Acos => gomath::acos,
        K::Atan => gomath::atan,
        K::Sinh => gomath::sinh,
        K::Cosh => gomath::cosh,
        K::Tanh => gomath::tanh,
        K::Asinh => gomath::asinh,
        K::Acosh => gomath::acosh,
        K::Atanh => gomath::atanh,
        K::Deg => |v| v * 180.0 / std::f64::consts::PI,
        K::Rad => |v| v * std::f64::consts::PI / 180.0,
        K::Sgn => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn date_part(kind: K, seconds: f64) -> f64 {
    let time = civil_time(seconds);
    f64::from(match kind {
        K::DaysInMonth => days_in_month(time.year, time.month),
        K::DayOfMonth => time.day,
        K::DayOfWeek => time.weekday,
        K::DayOfYear => time.day_of_year,
        K::Hour => time.hour,
        K::Minute => time.minute,
        K::Month => time.month,
        _ => return time.year as f64,
    })
}

fn eval_vector(ev: &mut Evaluator<'_>, expr: &Expr, steps: &Steps) -> Result<Vec<StepSeries>, PromqlError> {
    let value = ev.eval(expr, steps)?;
    ev.done_with(&value);
    match value {
        Val::Vector(series) => Ok(series),
        _ => Err(PromqlError::exec("expected an instant vector argument")),
    }
}

fn eval_scalar(ev: &mut Evaluator<'_>, expr: &Expr, steps: &Steps) -> Result<Vec<f64>, PromqlError> {
    let value = ev.eval(expr, steps)?;
    ev.done_with(&value);
    match value {
        Val::Scalar(values) => Ok(values),
        _ => Err(PromqlError::exec("expected a scalar argument")),
    }
}

fn eval_string(ev: &mut Evaluator<'_>, expr: &Expr, steps: &Steps) -> Result<String, PromqlError> {
    match ev.eval(expr, steps)? {
        Val::String(text) => Ok(text),
        _ => Err(PromqlError::exec("expected a string argument")),
    }
}

/// Applies `f(step_time, value)` to every point, optionally dropping `__name__`, and rejects
/// outputs where two series end up with the same labels.
fn map_vector(
    input: Vec<StepSeries>,
    drop_name: bool,
    mut f: impl FnMut(i64, f64) -> Option<f64>,
) -> Result<Vec<StepSeries>, PromqlError> {
    let mut builder = MatrixBuilder::new();
    for series in input {
        let labels = if drop_name { series.labels.without_metric_name() } else { series.labels };
        let slot = builder.slot(labels);
        for point in series.points {
            if let Some(value) = f(point.timestamp_ms, point.value) {
                builder.push(slot, point.timestamp_ms, value)?;
            }
        }
    }
    builder.finish()
}

/// The labels `absent()` reports: equality matchers of a plain selector, minus names that are
/// matched more than once or by other operators.
fn absent_labels(expr: &Expr) -> Labels {
    let matchers = match expr.unparen() {
        Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => &selector.matchers,
        _ => return Labels::empty(),
    };
    let mut labels = Labels::empty();
    let mut ambiguous = Vec::new();
    for matcher in matchers {
        if matcher.name == METRIC_NAME {
            continue;
        }
        if matcher.op == MatchOp::Equal && labels.get(&matcher.name).is_none() {
            labels.set(&matcher.name, matcher.value.clone());
        } else {
            ambiguous.push(matcher.name.clone());
        }
    }
    for name in ambiguous {
        labels.remove(&name);
    }
    labels
}

fn label_replace(
    ev: &mut Evaluator<'_>,
    args: &[Expr],
    steps: &Steps,
) -> Result<Vec<StepSeries>, PromqlError> {
    let input = eval_vector(ev, &args[0], steps)?;
    let dst = eval_string(ev, &args[1], steps)?;
    let replacement = eval_string(ev, &args[2], steps)?;
    let src = eval_string(ev, &args[3], steps)?;
    let pattern = eval_string(ev, &args[4], steps)?;
    let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
        PromqlError::exec(format!("invalid regular expression in label_replace(): {pattern}"))
    })?;
    if !is_valid_label_name(&dst) {
        return Err(PromqlError::exec(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let mut builder = MatrixBuilder::new();
    for series in input {
        let source = series.labels.get(&src).unwrap_or("");
        let labels = match regex.captures(source) {
            None => series.labels,
            Some(captures) => {
                let mut expanded = String::new();
                captures.expand(&replacement, &mut expanded);
                let mut labels = series.labels.clone();
                labels.set(&dst, expanded);
                labels
            }
        };
        let slot = builder.slot(labels);
        for point in series.points {
            builder.push(slot, point.timestamp_ms, point.value)?;
        }
    }
    builder.finish()
}

fn label_join(ev: &mut Evaluator<'_>, args: &[Expr], steps: &Steps) -> Result<Vec<StepSeries>, PromqlError> {
    let input = eval_vector(ev, &args[0], steps)?;
    let dst = eval_string(ev, &args[1], steps)?;
    let separator = eval_string(ev, &args[2], steps)?;
    let mut sources = Vec::new();
    for arg in &args[3..] {
        let name = eval_string(ev, arg, steps)?;
        if !is_valid_label_name(&name) {
            return Err(PromqlError::exec(format!("invalid source label name in label_join(): {name}")));
        }
        sources.push(name);
    }
    if !is_valid_label_name(&dst) {
        return Err(PromqlError::exec(format!("invalid destination label name in label_join(): {dst}")));
    }
    let mut builder = MatrixBuilder::new();
    for series in input {
        let joined =
            sources.iter().map(|s| series.labels.get(s).unwrap_or("")).collect::<Vec<_>>().join(&separator);
        let mut labels = series.labels.clone();
        labels.set(&dst, joined);
        let slot = builder.slot(labels);
        for point in series.points {
            builder.push(slot, point.timestamp_ms, point.value)?;
        }
    }
    builder.finish()
}

fn histogram_quantile(
    ev: &mut Evaluator<'_>,
    args: &[Expr],
    steps: &Steps,
) -> Result<Vec<StepSeries>, PromqlError> {
    let q = eval_scalar(ev, &args[0], steps)?;
    let input = eval_vector(ev, &args[1], steps)?;
    // Group buckets by their labels without `le` (the metric name still separates groups).
    let mut group_of_series: Vec<Option<(usize, f64)>> = Vec::with_capacity(input.len());
    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut builder = MatrixBuilder::new();
    let mut group_slots: Vec<usize> = Vec::new();
    for series in &input {
        let Some(upper_bound) = series.labels.get("le").and_then(parse_go_float) else {
            group_of_series.push(None);
            continue;
        };
        let mut key = series.labels.clone();
        key.remove("le");
        let next = group_slots.len();
        let group = *group_index.entry(key.clone()).or_insert(next);
        if group == next {
            group_slots.push(builder.slot(key.without_metric_name()));
        }
        group_of_series.push(Some((group, upper_bound)));
    }
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); group_slots.len()];
    let mut cursors = StepCursors::new(&input);
    for (step, t) in steps.iter() {
        ev.check_deadline()?;
        for group in buckets.iter_mut() {
            group.clear();
        }
        for (index, entry) in group_of_series.iter().enumerate() {
            let Some((group, upper_bound)) = entry else { continue };
            if let Some(count) = cursors.value_at(&input, index, t) {
                buckets[*group].push(Bucket { upper_bound: *upper_bound, count });
            }
        }
        for (group, group_buckets) in buckets.iter_mut().enumerate() {
            if group_buckets.is_empty() {
                continue;
            }
            let value = bucket_quantile(q[step], group_buckets);
            builder.push(group_slots[group], t, value)?;
        }
    }
    builder.finish()
}

/// Parses a float as Go's `strconv.ParseFloat` does for `le` label values.
fn parse_go_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with(['+', '-']) && text.starts_with('+') {
        return None;
    }
    body.replace('_', "").parse::<f64>().ok()
}

fn eval_range_function(
    ev: &mut Evaluator<'_>,
    kind: K,
    args: &[Expr],
    steps: &Steps,
) -> Result<Val, PromqlError> {
    if kind == K::AbsentOverTime {
        let matrix_index = args.iter().position(|a| a.value_type() == ValueType::Matrix).unwrap_or(0);
        let source = ev.range_source(&args[matrix_index], steps)?;
        return absent_over_time(ev, &source, &args[matrix_index], steps);
    }
    let mut out: Vec<StepSeries> = Vec::new();
    eval_range_series(ev, kind, args, steps, |labels, points| {
        out.push(StepSeries { labels: labels.to_labels(), points })
    })?;
    Ok(Val::Vector(out))
}

/// Whether `kind(args)` is a range function whose per-series output `eval_range_series` can
/// stream to an aggregation.
pub(super) fn is_fusable_range_call(kind: K, args: &[Expr]) -> bool {
    kind != K::AbsentOverTime && args.iter().any(|a| a.value_type() == ValueType::Matrix)
}

/// The labels of a range function's output series, built only when wanted: its input series'
/// labels without the metric name (with it for `last_over_time`). An aggregation over the
/// function reads its grouping labels from here without building every series' label set.
#[derive(Clone, Copy)]
pub(super) struct OutputLabels<'a> {
    input: &'a Labels,
    keep_name: bool,
}

impl<'a> OutputLabels<'a> {
    /// The output labels, sorted by name.
    pub(super) fn iter(self) -> impl Iterator<Item = &'a neocortex_core::Label> {
        self.input.iter().filter(move |label| self.keep_name || label.name != METRIC_NAME)
    }

    /// The output label set.
    pub(super) fn to_labels(self) -> Labels {
        if self.keep_name {
            self.input.clone()
        } else {
            self.input.without_metric_name()
        }
    }
}

/// Range-function outputs computed ahead of the one consumed, at most: bounded so that they
/// (series × steps points) stay near [`RANGE_WINDOW_POINTS`].
fn range_series_window(steps: usize) -> usize {
    (RANGE_WINDOW_POINTS / steps.max(1)).clamp(RANGE_SERIES_WINDOW, RANGE_SERIES_WINDOW * 8)
}

/// Evaluates a range function series by series, handing each series' output labels and points
/// (only series with at least one point) to `sink` in input order; fails on duplicate output
/// label sets.
pub(super) fn eval_range_series(
    ev: &mut Evaluator<'_>,
    kind: K,
    args: &[Expr],
    steps: &Steps,
    mut sink: impl FnMut(OutputLabels<'_>, Vec<Sample>),
) -> Result<(), PromqlError> {
    let matrix_index = args.iter().position(|a| a.value_type() == ValueType::Matrix).unwrap_or(0);
    let mut params: Vec<Vec<f64>> = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i != matrix_index {
            params.push(eval_scalar(ev, arg, steps)?);
        }
    }
    let source = ev.range_source(&args[matrix_index], steps)?;
    let keep_name = kind == K::LastOverTime;
    // Input series are distinct label sets, so outputs can only collide when dropping metric
    // names that differ: only then is every output label set built and checked.
    let names_differ =
        !keep_name && source.series.windows(2).any(|pair| pair[0].0.metric_name() != pair[1].0.metric_name());
    let mut seen: HashSet<Labels> = HashSet::new();
    // Series are evaluated on `parallelism` threads, and their outputs handed to `sink` in series
    // order, exactly as a sequential loop would, so results and the first error do not depend on
    // the thread count. The window bounds the outputs held at once.
    let window = range_series_window(steps.len());
    let shared: &Evaluator<'_> = ev;
    let budget = shared.max_samples.saturating_sub(shared.current_samples);
    let (parallelism, deadline_check) = (shared.parallelism, || shared.check_deadline());
    let mut decoded_samples = 0;
    let mut widest_window = 0;
    super::parallel_ordered(
        source.series.len(),
        parallelism,
        window,
        |i| {
            deadline_check()?;
            series_output(kind, &source, &source.series[i].1, steps, &params, budget)
        },
        |i, output| {
            let output = output?;
            decoded_samples += output.decoded;
            widest_window = widest_window.max(output.widest_window);
            if output.widest_window > budget {
                return Err(PromqlError::TooManySamples("query execution"));
            }
            if output.points.is_empty() {
                return Ok(());
            }
            let labels = OutputLabels { input: &source.series[i].0, keep_name };
            if names_differ && !seen.insert(labels.to_labels()) {
                return Err(duplicate_labelset());
            }
            sink(labels, output.points);
            Ok(())
        },
    )?;
    ev.decoded_samples += decoded_samples;
    ev.check_window(widest_window)?;
    Ok(())
}

/// Where a series' counter resets are: the indices of samples below their predecessor, so
/// whether a window holds one is found by moving a cursor instead of a pass over the window at
/// every step. Resets are rare, so the list is short.
struct CounterResets {
    at: Vec<usize>,
    /// The first entry of `at` that may lie inside the current or a later window.
    next: usize,
}

impl CounterResets {
    fn of(samples: &[Sample]) -> Self {
        let at = samples
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| pair[1].value < pair[0].value)
            .map(|(i, _)| i + 1)
            .collect();
        Self { at, next: 0 }
    }

    /// Whether no sample of `window` (a subslice of `samples`) after its first is below its
    /// predecessor. Windows must not move backwards.
    fn none_in(&mut self, samples: &[Sample], window: &[Sample]) -> bool {
        let first = (window.as_ptr() as usize).wrapping_sub(samples.as_ptr() as usize)
            / std::mem::size_of::<Sample>();
        let end = first + window.len();
        while self.at.get(self.next).is_some_and(|&i| i <= first) {
            self.next += 1;
        }
        window.len() >= 2 && self.at.get(self.next).is_none_or(|&i| i >= end)
    }
}

/// Range-function outputs computed ahead of the one consumed, at least.
const RANGE_SERIES_WINDOW: usize = 128;

/// Output points the range-function outputs computed ahead may hold (128 series of a day at
/// 15 s).
const RANGE_WINDOW_POINTS: usize = 128 * 5_761;

/// One series' range-function output and what producing it cost.
struct SeriesOutput {
    points: Vec<Sample>,
    widest_window: usize,
    decoded: usize,
}

/// Evaluates range function `kind` over one input series at every step; fails when a window
/// holds more than `budget` samples.
fn series_output(
    kind: K,
    source: &super::RangeSource<'_>,
    samples: &super::RangeSamples<'_>,
    steps: &Steps,
    params: &[Vec<f64>],
    budget: usize,
) -> Result<SeriesOutput, PromqlError> {
    super::with_decode_buffer(|buffer| {
        let (samples, decoded) = samples.read(buffer)?;
        let mut output = SeriesOutput { points: Vec::new(), widest_window: 0, decoded };
        let mut memo = ExtrapolationMemo::default();
        let mut windows = SeriesWindows { source, samples, steps, budget, output: &mut output };
        // The common counter and gauge functions get loops of their own, so each is inlined.
        match kind {
            K::Rate | K::Increase => {
                let mut resets = CounterResets::of(samples);
                let is_rate = kind == K::Rate;
                windows.each(|window, mut ctx, _| {
                    ctx.no_counter_resets = resets.none_in(samples, window);
                    Ok(extrapolated_rate(window, &ctx, true, is_rate, &mut memo))
                })?;
            }
            K::Delta => {
                windows.each(|window, ctx, _| Ok(extrapolated_rate(window, &ctx, false, false, &mut memo)))?
            }
            _ => windows.each(|window, ctx, step| {
                let param = |i: usize| params.get(i).map_or(f64::NAN, |p| p[step]);
                range_function(kind, window, &ctx, param, &mut memo)
            })?,
        }
        Ok(output)
    })
}

/// One series' samples and the windows a range function sees over them, step by step.
struct SeriesWindows<'a, 's> {
    source: &'a super::RangeSource<'s>,
    samples: &'a [Sample],
    steps: &'a Steps,
    budget: usize,
    output: &'a mut SeriesOutput,
}

impl SeriesWindows<'_, '_> {
    /// Calls `f(window, context, step index)` for each step's non-empty window and appends
    /// the values it returns to the output at that step.
    fn each(
        &mut self,
        mut f: impl FnMut(&[Sample], WindowContext, usize) -> Result<Option<f64>, PromqlError>,
    ) -> Result<(), PromqlError> {
        let mut cursor = WindowCursor::new();
        for (step, t) in self.steps.iter() {
            let reference = self.source.reference(t);
            let (start, end) = boundaries::range_window(reference, self.source.range_ms);
            let window = cursor.window(self.samples, start, end);
            if window.is_empty() {
                continue;
            }
            if window.len() > self.budget {
                return Err(PromqlError::TooManySamples("query execution"));
            }
            self.output.widest_window = self.output.widest_window.max(window.len());
            let ctx = WindowContext {
                range_start: start,
                range_end: end,
                eval_time: t,
                range_ms: self.source.range_ms,
                no_counter_resets: false,
            };
            if let Some(value) = f(window, ctx, step)? {
                let points = &mut self.output.points;
                if points.is_empty() {
                    points.reserve_exact(self.steps.len() - step);
                }
                points.push(Sample { timestamp_ms: t, value });
            }
        }
        Ok(())
    }
}

fn absent_over_time(
    ev: &mut Evaluator<'_>,
    source: &super::RangeSource<'_>,
    arg: &Expr,
    steps: &Steps,
) -> Result<Val, PromqlError> {
    let mut present = vec![false; steps.len()];
    let mut buffer = Vec::new();
    for (_, samples) in &source.series {
        ev.check_deadline()?;
        let (samples, decoded) = samples.read(&mut buffer)?;
        ev.decoded_samples += decoded;
        let mut cursor = WindowCursor::new();
        for (step, t) in steps.iter() {
            let (start, end) = boundaries::range_window(source.reference(t), source.range_ms);
            if !cursor.window(samples, start, end).is_empty() {
                present[step] = true;
            }
        }
    }
    let points: Vec<Sample> = steps
        .iter()
        .filter(|(i, _)| !present[*i])
        .map(|(_, t)| Sample { timestamp_ms: t, value: 1.0 })
        .collect();
    if points.is_empty() {
        return Ok(Val::Vector(Vec::new()));
    }
    Ok(Val::Vector(vec![StepSeries { labels: absent_labels(arg), points }]))
}

fn range_function(
    kind: K,
    window: &[Sample],
    ctx: &WindowContext,
    param: impl Fn(usize) -> f64,
    memo: &mut ExtrapolationMemo,
) -> Result<Option<f64>, PromqlError> {
    let values = || window.iter().map(|s| s.value);
    Ok(match kind {
        K::Rate => extrapolated_rate(window, ctx, true, true, memo),
        K::Increase => extrapolated_rate(window, ctx, true, false, memo),
        K::Delta => extrapolated_rate(window, ctx, false, false, memo),
        K::Irate => instant_value(window, true),
        K::Idelta => instant_value(window, false),
        K::Changes | K::Resets => {
            let mut count = 0.0;
            let mut previous = window[0].value;
            for current in values().skip(1) {
                let counted = if kind == K::Changes {
                    current != previous && !(current.is_nan() && previous.is_nan())
                } else {
                    current < previous
                };
                if counted {
                    count += 1.0;
                }
                previous = current;
            }
            Some(count)
        }
        K::Deriv => {
            if window.len() < 2 {
                return Ok(None);
            }
            Some(linear_regression(window, window[0].timestamp_ms).0)
        }
        K::PredictLinear => {
            if window.len() < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(window, ctx.eval_time);
            Some(slope * param(0) + intercept)
        }
        K::HoltWinters => {
            let (smoothing, trend) = (param(0), param(1));
            if smoothing <= 0.0 || smoothing >= 1.0 {
                return Err(PromqlError::exec(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {smoothing:.6}"
                )));
            }
            if trend <= 0.0 || trend >= 1.0 {
                return Err(PromqlError::exec(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {trend:.6}"
                )));
            }
            holt_winters(window, smoothing, trend)
        }
        K::AvgOverTime => {
            let mut mean = KahanSum::default();
            let mut count: f64 = 0.0;
            for v in values() {
                count += 1.0;
                let current = mean.raw();
                if current.is_infinite() {
                    if v.is_infinite() && (current > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                mean.add(v / count - current / count);
            }
            Some(if mean.raw().is_infinite() { mean.raw() } else { mean.value() })
        }
        K::SumOverTime => {
            let mut sum = KahanSum::default();
            values().for_each(|v| sum.add(v));
            Some(if sum.raw().is_infinite() { sum.raw() } else { sum.value() })
        }
        K::CountOverTime => Some(window.len() as f64),
        K::MinOverTime | K::MaxOverTime => {
            let mut best = window[0].value;
            for v in values() {
                let better = if kind == K::MaxOverTime { v > best } else { v < best };
                if better || best.is_nan() {
                    best = v;
                }
            }
            Some(best)
        }
        K::StddevOverTime | K::StdvarOverTime => {
            let mut count = 0.0;
            let (mut mean, mut aux) = (KahanSum::default(), KahanSum::default());
            for v in values() {
                count += 1.0;
                let delta = v - mean.value();
                mean.add(delta / count);
                aux.add(delta * (v - mean.value()));
            }
            let variance = aux.value() / count;
            Some(if kind == K::StddevOverTime { variance.sqrt() } else { variance })
        }
        K::QuantileOverTime => {
            let mut sorted: Vec<f64> = values().collect();
            Some(quantile(param(0), &mut sorted))
        }
        K::LastOverTime => Some(window[window.len() - 1].value),
        K::PresentOverTime => Some(1.0),
        _ => return Err(PromqlError::exec("function does not take a range vector")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_parsing_of_le_values() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("+inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("2e-1"), Some(0.2));
        assert_eq!(parse_go_float(".2"), Some(0.2));
        assert_eq!(parse_go_float("x"), None);
    }
}
