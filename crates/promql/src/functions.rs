//! The PromQL 2.42 function table (names, argument types, arity) and the numeric kernels of the
//! functions: rate extrapolation, regression, quantiles, histogram buckets, Holt-Winters, dates.

use neocortex_core::Sample;

use crate::ast::ValueType;

/// Every function PromQL 2.42 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum FunctionKind {
    Abs,
    Absent,
    AbsentOverTime,
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    AvgOverTime,
    Ceil,
    Changes,
    Clamp,
    ClampMax,
    ClampMin,
    Cos,
    Cosh,
    CountOverTime,
    DaysInMonth,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    Deg,
    Delta,
    Deriv,
    Exp,
    Floor,
    HistogramCount,
    HistogramSum,
    HistogramFraction,
    HistogramQuantile,
    HoltWinters,
    Hour,
    Idelta,
    Increase,
    Irate,
    LabelReplace,
    LabelJoin,
    LastOverTime,
    Ln,
    Log10,
    Log2,
    MaxOverTime,
    MinOverTime,
    Minute,
    Month,
    Pi,
    PredictLinear,
    PresentOverTime,
    QuantileOverTime,
    Rad,
    Rate,
    Resets,
    Round,
    Scalar,
    Sgn,
    Sin,
    Sinh,
    Sort,
    SortDesc,
    Sqrt,
    StddevOverTime,
    StdvarOverTime,
    SumOverTime,
    Tan,
    Tanh,
    Time,
    Timestamp,
    Vector,
    Year,
}

/// A function's signature as the parser checks it.
#[derive(Debug)]
pub struct FunctionDef {
    /// Name as written in queries (case-sensitive).
    pub name: &'static str,
    /// Which function this is.
    pub kind: FunctionKind,
    /// Declared argument types.
    pub arg_types: &'static [ValueType],
    /// 0: exact arity; n > 0: the last declared argument is optional and up to n may be given;
    /// -1: the last argument repeats without limit.
    pub variadic: i32,
    /// The result type.
    pub return_type: ValueType,
}

use FunctionKind as K;
use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

macro_rules! def {
    ($name:literal, $kind:expr, [$($arg:expr),*], $variadic:expr, $ret:expr) => {
        FunctionDef { name: $name, kind: $kind, arg_types: &[$($arg),*], variadic: $variadic, return_type: $ret }
    };
}

static FUNCTIONS: &[FunctionDef] = &[
    def!("abs", K::Abs, [V], 0, V),
    def!("absent", K::Absent, [V], 0, V),
    def!("absent_over_time", K::AbsentOverTime, [M], 0, V),
    def!("acos", K::Acos, [V], 0, V),
    def!("acosh", K::Acosh, [V], 0, V),
    def!("asin", K::Asin, [V], 0, V),
    def!("asinh", K::Asinh, [V], 0, V),
    def!("atan", K::Atan, [V], 0, V),
    def!("atanh", K::Atanh, [V], 0, V),
    def!("avg_over_time", K::AvgOverTime, [M], 0, V),
    def!("ceil", K::Ceil, [V], 0, V),
    def!("changes", K::Changes, [M], 0, V),
    def!("clamp", K::Clamp, [V, S, S], 0, V),
    def!("clamp_max", K::ClampMax, [V, S], 0, V),
    def!("clamp_min", K::ClampMin, [V, S], 0, V),
    def!("cos", K::Cos, [V], 0, V),
    def!("cosh", K::Cosh, [V], 0, V),
    def!("count_over_time", K::CountOverTime, [M], 0, V),
    def!("days_in_month", K::DaysInMonth, [V], 1, V),
    def!("day_of_month", K::DayOfMonth, [V], 1, V),
    def!("day_of_week", K::DayOfWeek, [V], 1, V),
    def!("day_of_year", K::DayOfYear, [V], 1, V),
    def!("deg", K::Deg, [V], 0, V),
    def!("delta", K::Delta, [M], 0, V),
    def!("deriv", K::Deriv, [M], 0, V),
    def!("exp", K::Exp, [V], 0, V),
    def!("floor", K::Floor, [V], 0, V),
    def!("histogram_count", K::HistogramCount, [V], 0, V),
    def!("histogram_sum", K::HistogramSum, [V], 0, V),
    def!("histogram_fraction", K::HistogramFraction, [S, S, V], 0, V),
    def!("histogram_quantile", K::HistogramQuantile, [S, V], 0, V),
    def!("holt_winters", K::HoltWinters, [M, S, S], 0, V),
    def!("hour", K::Hour, [V], 1, V),
    def!("idelta", K::Idelta, [M], 0, V),
    def!("increase", K::Increase, [M], 0, V),
    def!("irate", K::Irate, [M], 0, V),
    def!("label_replace", K::LabelReplace, [V, Str, Str, Str, Str], 0, V),
    def!("label_join", K::LabelJoin, [V, Str, Str, Str], -1, V),
    def!("last_over_time", K::LastOverTime, [M], 0, V),
    def!("ln", K::Ln, [V], 0, V),
    def!("log10", K::Log10, [V], 0, V),
    def!("log2", K::Log2, [V], 0, V),
    def!("max_over_time", K::MaxOverTime, [M], 0, V),
    def!("min_over_time", K::MinOverTime, [M], 0, V),
    def!("minute", K::Minute, [V], 1, V),
    def!("month", K::Month, [V], 1, V),
    def!("pi", K::Pi, [], 0, S),
    def!("predict_linear", K::PredictLinear, [M, S], 0, V),
    def!("present_over_time", K::PresentOverTime, [M], 0, V),
    def!("quantile_over_time", K::QuantileOverTime, [S, M], 0, V),
    def!("rad", K::Rad, [V], 0, V),
    def!("rate", K::Rate, [M], 0, V),
    def!("resets", K::Resets, [M], 0, V),
    def!("round", K::Round, [V, S], 1, V),
    def!("scalar", K::Scalar, [V], 0, S),
    def!("sgn", K::Sgn, [V], 0, V),
    def!("sin", K::Sin, [V], 0, V),
    def!("sinh", K::Sinh, [V], 0, V),
    def!("sort", K::Sort, [V], 0, V),
    def!("sort_desc", K::SortDesc, [V], 0, V),
    def!("sqrt", K::Sqrt, [V], 0, V),
    def!("stddev_over_time", K::StddevOverTime, [M], 0, V),
    def!("stdvar_over_time", K::StdvarOverTime, [M], 0, V),
    def!("sum_over_time", K::SumOverTime, [M], 0, V),
    def!("tan", K::Tan, [V], 0, V),
    def!("tanh", K::Tanh, [V], 0, V),
    def!("time", K::Time, [], 0, S),
    def!("timestamp", K::Timestamp, [V], 0, V),
    def!("vector", K::Vector, [S], 0, V),
    def!("year", K::Year, [V], 1, V),
];

/// Looks a function up by its exact name.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Functions whose result depends on the evaluation time itself, so the promqltest runner does
/// not derive `@` variants of queries that use them (Prometheus's `AtModifierUnsafeFunctions`).
pub fn is_at_modifier_unsafe(kind: FunctionKind) -> bool {
    matches!(
        kind,
        K::DaysInMonth
            | K::DayOfMonth
            | K::DayOfWeek
            | K::DayOfYear
            | K::Hour
            | K::Minute
            | K::Month
            | K::Year
            | K::PredictLinear
            | K::Time
            | K::Timestamp
    )
}

/// Go's `math.Max`: NaN wins, otherwise the larger value.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, otherwise the smaller value.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

/// What a range function needs besides the window itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowContext {
    /// First millisecond of the window (inclusive).
    pub(crate) range_start: i64,
    /// Last millisecond of the window (inclusive).
    pub(crate) range_end: i64,
    /// The evaluation step time (not moved by `@` or `offset`).
    pub(crate) eval_time: i64,
    /// Range length in milliseconds.
    pub(crate) range_ms: i64,
    /// Whether the caller knows that no sample of the window is below its predecessor, so
    /// counter functions can skip looking for resets (the answer is the same either way).
    pub(crate) no_counter_resets: bool,
}

/// The parts of Prometheus's extrapolation that depend only on where a window's first and last
/// samples sit, how many it holds and the range: six of its seven divisions. Consecutive windows
/// of a regularly scraped series usually share them, so [`ExtrapolationMemo`] keeps the last.
#[derive(Debug, Clone, Copy)]
struct WindowTiming {
    duration_to_start: f64,
    duration_to_end: f64,
    sampled_interval: f64,
    average_between_samples: f64,
    /// The interval to extrapolate to, over the sampled interval, when no zero point of the
    /// counter moves the start.
    factor: f64,
    /// The range in seconds, as Go's `time.Duration.Seconds` computes it.
    range_seconds: f64,
    /// `factor / range_seconds`, what `rate` multiplies the increase by.
    rate_factor: f64,
}

/// What identifies a [`WindowTiming`]: milliseconds from the range start to the first sample,
/// from the last sample to the range end, between first and last sample, the sample count and
/// the range.
type TimingKey = (i64, i64, i64, usize, i64);

impl WindowTiming {
    fn of((to_start_ms, to_end_ms, sampled_ms, count, range_ms): TimingKey) -> Self {
        let sampled_interval = sampled_ms as f64 / 1000.0;
        let average_between_samples = sampled_interval / (count - 1) as f64;
        let mut timing = Self {
            duration_to_start: to_start_ms as f64 / 1000.0,
            duration_to_end: to_end_ms as f64 / 1000.0,
            sampled_interval,
            average_between_samples,
            factor: 0.0,
            range_seconds: go_duration_seconds(range_ms),
            rate_factor: 0.0,
        };
        timing.factor = timing.factor_from(timing.duration_to_start);
        timing.rate_factor = timing.factor / timing.range_seconds;
        timing
    }

    /// Prometheus's extrapolation factor when the window's start is `duration_to_start` away.
    fn factor_from(&self, duration_to_start: f64) -> f64 {
        let threshold = self.average_between_samples * 1.1;
        let mut extrapolate_to = self.sampled_interval;
        extrapolate_to += if duration_to_start < threshold {
            duration_to_start
        } else {
            self.average_between_samples / 2.0
        };
        extrapolate_to += if self.duration_to_end < threshold {
            self.duration_to_end
        } else {
            self.average_between_samples / 2.0
        };
        extrapolate_to / self.sampled_interval
    }
}

/// Go's `time.Duration.Seconds` for a duration of `ms` milliseconds: whole seconds plus the
/// nanoseconds over 1e9, which rounds differently from `ms / 1000` for some durations.
pub(crate) fn go_duration_seconds(ms: i64) -> f64 {
    (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
}

/// The last window's [`WindowTiming`], reused while windows keep the same shape. The values are
/// what the same divisions give again, so results are bit-identical with or without it.
#[derive(Debug, Default)]
pub(crate) struct ExtrapolationMemo {
    last: Option<(TimingKey, WindowTiming)>,
}

impl ExtrapolationMemo {
    fn timing(&mut self, key: TimingKey) -> WindowTiming {
        match self.last {
            Some((last_key, timing)) if last_key == key => timing,
            _ => {
                let timing = WindowTiming::of(key);
                self.last = Some((key, timing));
                timing
            }
        }
    }
}

/// Whether Prometheus's zero point of a counter, `sampled_interval * (first / result)`, cannot
/// be below `duration_to_start`, decided without its division where products settle it: with
/// `result > 0` and `first >= 0`, the zero point is at least the start when `first * sampled`
/// exceeds `duration_to_start * result` by far more than the rounding of either side (both
/// finite and normal), and it never is below a start of zero.
fn zero_point_not_before(first: f64, result: f64, sampled_interval: f64, duration_to_start: f64) -> bool {
    if duration_to_start == 0.0 {
        return true;
    }
    let scaled_first = first * sampled_interval;
    let scaled_start = duration_to_start * result;
    scaled_first.is_finite()
        && scaled_start.is_finite()
        && scaled_start >= f64::MIN_POSITIVE
        && scaled_first >= scaled_start * (1.0 + 1e-12)
}

/// rate/increase/delta with Prometheus's extrapolation to the window edges; `memo` carries
/// timing divisions over from the previous window of the same series.
#[inline]
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    ctx: &WindowContext,
    is_counter: bool,
    is_rate: bool,
    memo: &mut ExtrapolationMemo,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.value - first.value;
    // Without a reset the loop below adds nothing (a negative first sample adds `0.0` to a
    // difference that cannot be `-0.0`), so it is skipped when the caller knows there is none.
    if is_counter && !ctx.no_counter_resets {
        let mut previous = 0.0;
        for sample in samples {
            if sample.value < previous {
                result += previous;
            }
            previous = sample.value;
        }
    }
    let timing = memo.timing((
        first.timestamp_ms - ctx.range_start,
        ctx.range_end - last.timestamp_ms,
        last.timestamp_ms - first.timestamp_ms,
        samples.len(),
        ctx.range_ms,
    ));
    let mut factor = if is_rate { timing.rate_factor } else { timing.factor };
    if is_counter
        && result > 0.0
        && first.value >= 0.0
        && !zero_point_not_before(first.value, result, timing.sampled_interval, timing.duration_to_start)
    {
        let duration_to_zero = timing.sampled_interval * (first.value / result);
        if duration_to_zero < timing.duration_to_start {
            factor = timing.factor_from(duration_to_zero);
            if is_rate {
                factor /= timing.range_seconds;
            }
        }
    }
    // Prometheus 2.42 divides the factor by the range, then scales: `result * (factor / range)`
    // rounds differently from `result * factor / range`.
    Some(result * factor)
}

/// irate/idelta: from the last two samples only.
pub(crate) fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let last = samples[samples.len() - 1];
    let previous = samples[samples.len() - 2];
    let mut result =
        if is_rate && last.value < previous.value { last.value } else { last.value - previous.value };
    let interval = last.timestamp_ms - previous.timestamp_ms;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Compensated (Kahan-Babuska-Neumaier) running sum, as Prometheus uses for `*_over_time`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KahanSum {
    sum: f64,
    compensation: f64,
}

impl KahanSum {
    pub(crate) fn add(&mut self, increment: f64) {
        let total = self.sum + increment;
        if self.sum.abs() >= increment.abs() {
            self.compensation += (self.sum - total) + increment;
        } else {
            self.compensation += (increment - total) + self.sum;
        }
        self.sum = total;
    }

    /// The uncompensated running sum.
    pub(crate) fn raw(&self) -> f64 {
        self.sum
    }

    /// The compensated sum.
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Least-squares fit of the samples against time relative to `intercept_time_ms`.
pub(crate) fn linear_regression(samples: &[Sample], intercept_time_ms: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut kx, mut ky, mut kxy, mut kx2) =
        (KahanSum::default(), KahanSum::default(), KahanSum::default(), KahanSum::default());
    let init_y = samples[0].value;
    let mut const_y = true;
    for (i, sample) in samples.iter().enumerate() {
        if const_y && i > 0 && sample.value != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (sample.timestamp_ms - intercept_time_ms) as f64 / 1000.0;
        kx.add(x);
        ky.add(sample.value);
        kxy.add(x * sample.value);
        kx2.add(x * x);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (kx.value(), ky.value(), kxy.value(), kx2.value());
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Double exponential smoothing; `None` with fewer than two samples.
pub(crate) fn holt_winters(samples: &[Sample], smoothing: f64, trend: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = samples[0].value;
    let mut b = samples[1].value - samples[0].value;
    for (i, sample) in samples.iter().enumerate().skip(1) {
        let x = smoothing * sample.value;
        if i > 1 {
            b = trend * (s1 - s0) + (1.0 - trend) * b;
        }
        let y = (1.0 - smoothing) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// Sort order that puts NaN first, then ascending (Prometheus's `vectorByValueHeap`).
pub(crate) fn nan_first_ascending(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// The φ-quantile of `values` with linear interpolation (sorts `values`).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_first_ascending(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// One classic histogram bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) upper_bound: f64,
    pub(crate) count: f64,
}

/// histogram_quantile over classic buckets: sorted, coalesced, made monotonic, interpolated.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.partial_cmp(&b.upper_bound).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce_buckets(buckets);
    let mut max = f64::NEG_INFINITY;
    for bucket in buckets.iter_mut() {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
        }
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let searchable = buckets.len() - 1;
    let b = buckets[..searchable].iter().position(|bucket| bucket.count >= rank).unwrap_or(searchable);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

fn coalesce_buckets(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper_bound == bucket.upper_bound => last.count += bucket.count,
            _ => out.push(*bucket),
        }
    }
    *buckets = out;
}

/// Calendar fields of a Unix time in UTC, as Go's `time.Unix(int64(v), 0).UTC()` gives them.
pub(crate) struct CivilTime {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) weekday: u32,
    pub(crate) day_of_year: u32,
}

pub(crate) fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `int64(f)` on amd64: NaN and values outside the int64 range become `i64::MIN`.
pub(crate) fn go_int64(value: f64) -> i64 {
    // 2^63 is exactly representable; every finite value in [-2^63, 2^63) converts without overflow.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if value.is_nan() || !(-LIMIT..LIMIT).contains(&value) {
        return i64::MIN;
    }
    value as i64
}

/// Seconds from Go's absolute zero year (-292277022399) to the Unix epoch, as Go's `time` package
/// computes them; adding it with wrapping arithmetic reproduces Go's results even for the
/// out-of-range inputs (NaN, huge values) that `time.Unix(int64(v), 0)` accepts.
const UNIX_TO_ABSOLUTE: i64 = 62_135_596_800 + 9_223_371_966_579_724_800;
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
const DAYS_BEFORE_MONTH: [u32; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// Converts a sample value (Unix seconds) to calendar fields exactly as Prometheus does with
/// `time.Unix(int64(v), 0).UTC()`.
pub(crate) fn civil_time(seconds: f64) -> CivilTime {
    let abs = go_int64(seconds).wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let mut d = abs / 86_400;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let year_day = d as u32;
    let (month, day) = month_and_day(year, year_day);
    let secs_of_day = abs % 86_400;
    CivilTime {
        year,
        month,
        day,
        hour: (secs_of_day / 3600) as u32,
        minute: (abs % 3600 / 60) as u32,
        // Go's absolute zero year starts on a Monday.
        weekday: ((abs + 86_400) % (7 * 86_400) / 86_400) as u32,
        day_of_year: year_day + 1,
    }
}

fn month_and_day(year: i64, year_day: u32) -> (u32, u32) {
    let mut day = year_day;
    if is_leap_year(year) {
        if day == 31 + 29 - 1 {
            return (2, 29);
        }
        if day > 31 + 29 - 1 {
            day -= 1;
        }
    }
    let mut month = (day / 31) as usize;
    let end = DAYS_BEFORE_MONTH[month + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE_MONTH[month]
    };
    (month as u32 + 1, day - begin + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect()
    }

    #[test]
    fn quantile_interpolates() {
        assert!((quantile(0.8, &mut [0.0, 1.0, 4.0]) - 2.8).abs() < 1e-12);
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
    }

    #[test]
    fn civil_time_matches_go() {
        let t = civil_time(1_136_239_445.0);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.weekday, t.day_of_year),
            (2006, 1, 2, 22, 4, 1, 2)
        );
        assert_eq!(civil_time(1_483_191_420.0).day_of_year, 366);
        assert_eq!(civil_time(0.0).weekday, 4);
        assert_eq!(civil_time(-86_400.0).weekday, 3);
        assert_eq!(civil_time(1_456_790_399.0).day, 29);
        assert_eq!(civil_time(-62_135_596_801.0).year, 0);
        // NaN becomes i64::MIN seconds in Go, which wraps to a date in year 292277026596.
        let nan = civil_time(f64::NAN);
        assert_eq!((nan.year, nan.month, nan.day, nan.hour, nan.minute), (292_277_026_596, 12, 4, 15, 30));
        assert_eq!((nan.weekday, nan.day_of_year), (0, 339));
    }

    #[test]
    fn rate_divides_the_factor_by_the_range_as_prometheus_does() {
        // Both edges are 10 s from the window's, so the increase of 7 is scaled by 300 / 280
        // divided by the 300 s range: 0.024999999999999998 as Go rounds it, where scaling first
        // and dividing after would give 0.025.
        let window = samples(&[(10_000, 1000.0), (290_000, 1007.0)]);
        let ctx = WindowContext {
            range_start: 0,
            range_end: 300_000,
            eval_time: 300_000,
            range_ms: 300_000,
            no_counter_resets: true,
        };
        assert_ne!(7.0 * (300.0 / 280.0) / 300.0, 7.0 * (300.0 / 280.0 / 300.0));
        let rate = extrapolated_rate(&window, &ctx, true, true, &mut ExtrapolationMemo::default());
        assert_eq!(rate, Some(7.0 * (300.0 / 280.0 / 300.0)));
        assert_eq!(rate, Some(0.024999999999999998));
    }

    #[test]
    fn rate_extrapolates_to_zero_point() {
        let window = samples(&[(0, 0.0), (60_000, 60.0), (120_000, 120.0)]);
        let ctx = WindowContext {
            range_start: -60_000,
            range_end: 120_000,
            eval_time: 120_000,
            range_ms: 180_000,
            no_counter_resets: false,
        };
        let increase =
            extrapolated_rate(&window, &ctx, true, false, &mut ExtrapolationMemo::default()).unwrap();
        assert_eq!(increase, 120.0);
    }

    /// Prometheus 2.42's `extrapolatedRate`, division by division, as the oracle.
    fn prometheus_extrapolated_rate(
        samples: &[Sample],
        ctx: &WindowContext,
        is_counter: bool,
        is_rate: bool,
    ) -> f64 {
        let (first, last) = (samples[0], samples[samples.len() - 1]);
        let mut result = last.value - first.value;
        if is_counter {
            let mut previous = 0.0;
            for sample in samples {
                if sample.value < previous {
                    result += previous;
                }
                previous = sample.value;
            }
        }
        let mut duration_to_start = (first.timestamp_ms - ctx.range_start) as f64 / 1000.0;
        let duration_to_end = (ctx.range_end - last.timestamp_ms) as f64 / 1000.0;
        let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
        let average = sampled_interval / (samples.len() - 1) as f64;
        if is_counter && result > 0.0 && first.value >= 0.0 {
            let duration_to_zero = sampled_interval * (first.value / result);
            if duration_to_zero < duration_to_start {
                duration_to_start = duration_to_zero;
            }
        }
        let threshold = average * 1.1;
        let mut extrapolate_to = sampled_interval;
        extrapolate_to += if duration_to_start < threshold { duration_to_start } else { average / 2.0 };
        extrapolate_to += if duration_to_end < threshold { duration_to_end } else { average / 2.0 };
        let mut factor = extrapolate_to / sampled_interval;
        if is_rate {
            // Go: Duration.Seconds() = whole seconds + nanoseconds / 1e9.
            factor /= (ctx.range_ms / 1000) as f64 + ((ctx.range_ms % 1000) * 1_000_000) as f64 / 1e9;
        }
        result * factor
    }

    proptest::proptest! {
        /// Memoised timings and the zero-point shortcut give Prometheus's bits on sliding windows
        /// over regular, jittered and gappy series, with resets, zeros, negatives and NaNs.
        #[test]
        fn memoised_rate_is_bit_identical_to_prometheus(
            gaps in proptest::collection::vec(1i64..40_000, 2..120),
            values in proptest::collection::vec(proptest::prop_oneof![
                8 => -5.0f64..1e6,
                1 => proptest::sample::select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, 1e-300, 1e300]),
            ], 120),
            regular in proptest::bool::ANY,
            range_ms in proptest::sample::select(vec![60_000i64, 300_000, 1_118, 90_500]),
            step_ms in 1_000i64..60_000,
            kind in 0usize..3,
        ) {
            let mut t = 0;
            let mut value_sum = 0.0;
            let points: Vec<Sample> = gaps.iter().zip(&values).enumerate().map(|(i, (gap, value))| {
                t += if regular { 15_000 } else { *gap };
                value_sum = if i % 17 == 16 { *value } else { value_sum + value.abs() };
                Sample { timestamp_ms: t, value: if regular { value_sum } else { *value } }
            }).collect();
            let (is_counter, is_rate) = [(true, true), (true, false), (false, false)][kind];
            let mut memo = ExtrapolationMemo::default();
            let mut end = 0;
            while end <= t + range_ms {
                let start = end - range_ms;
                let window: Vec<Sample> = points
                    .iter()
                    .copied()
                    .filter(|p| p.timestamp_ms >= start && p.timestamp_ms <= end)
                    .collect();
                let ctx = WindowContext { range_start: start, range_end: end, eval_time: end, range_ms, no_counter_resets: false };
                let got = extrapolated_rate(&window, &ctx, is_counter, is_rate, &mut memo);
                if window.len() >= 2 {
                    let want = prometheus_extrapolated_rate(&window, &ctx, is_counter, is_rate);
                    let got = got.expect("two samples give a value");
                    proptest::prop_assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "window {window:?} at {end}: {got} vs {want}"
                    );
                } else {
                    proptest::prop_assert!(got.is_none());
                }
                end += step_ms;
            }
        }
    }

    #[test]
    fn zero_point_shortcut_only_skips_clear_cases() {
        // The zero point 10 * (1 / 4) = 2.5 s is after a 2 s start but before a 3 s one.
        assert!(zero_point_not_before(1.0, 4.0, 10.0, 2.0));
        assert!(!zero_point_not_before(1.0, 4.0, 10.0, 3.0));
        // Too close to call by products: the division decides.
        assert!(!zero_point_not_before(1.0, 4.0, 10.0, 2.5));
        assert!(zero_point_not_before(1.0, 4.0, 10.0, 0.0));
        assert!(!zero_point_not_before(1.0, f64::INFINITY, 10.0, 2.0));
    }

    #[test]
    fn histogram_buckets_monotonic() {
        let mut buckets: Vec<Bucket> = [(0.1, 2.0), (1.0, 1.0), (f64::INFINITY, 8.0)]
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect();
        assert_eq!(bucket_quantile(0.5, &mut buckets), 1.0);
    }
}
