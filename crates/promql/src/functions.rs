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

/// rate/increase/delta with Prometheus's extrapolation to the window edges.
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    ctx: &WindowContext,
    is_counter: bool,
    is_rate: bool,
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
    let mut duration_to_start = (first.timestamp_ms - ctx.range_start) as f64 / 1000.0;
    let duration_to_end = (ctx.range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average_between_samples = sampled_interval / (samples.len() - 1) as f64;
    if is_counter && result > 0.0 && first.value >= 0.0 {
        let duration_to_zero = sampled_interval * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between_samples * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to +=
        if duration_to_start < threshold { duration_to_start } else { average_between_samples / 2.0 };
    extrapolate_to +=
        if duration_to_end < threshold { duration_to_end } else { average_between_samples / 2.0 };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= ctx.range_ms as f64 / 1000.0;
    }
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
    fn rate_extrapolates_to_zero_point() {
        let window = samples(&[(0, 0.0), (60_000, 60.0), (120_000, 120.0)]);
        let ctx = WindowContext {
            range_start: -60_000,
            range_end: 120_000,
            eval_time: 120_000,
            range_ms: 180_000,
            no_counter_resets: false,
        };
        let increase = extrapolated_rate(&window, &ctx, true, false).unwrap();
        assert_eq!(increase, 120.0);
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
