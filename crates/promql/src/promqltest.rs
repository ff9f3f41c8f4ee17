//! A runner for Prometheus's PromQL test-script format (`promql/testdata/*.test`): `load`,
//! `clear`, `eval`/`eval_fail`/`eval_ordered instant at <duration> <expr>` with expected results.
//!
//! Like Prometheus's own runner, every instant eval is also run as range queries (start = end,
//! and a three-step range around the time checked at its middle step), and, for queries whose
//! result does not depend on the evaluation time itself, as `@`-pinned variants at other times.

use std::fmt::Write;

use neocortex_core::{stale_nan, Labels, Sample};

use crate::ast::{AtModifier, Expr};
use crate::engine::{Engine, EngineOptions};
use crate::functions::is_at_modifier_unsafe;
use crate::lexer::{parse_duration, parse_number, tokenize, Token};
use crate::parser::parse;
use crate::test_storage::TestStorage;
use crate::value::{format_value, QueryValue};

/// Engine settings Prometheus uses for its test scripts.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: std::time::Duration::from_secs(300),
        max_samples: 10_000,
        timeout: std::time::Duration::from_secs(100),
        default_subquery_step: std::time::Duration::from_secs(60),
        enable_at_modifier: true,
        enable_negative_offset: true,
        // More than one thread, so the scripts also exercise the parallel per-series paths.
        parallelism: 2,
    }
}

/// What an eval expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A scalar value.
    Scalar(f64),
    /// Series and their values (empty: no result).
    Vector(Vec<(Labels, f64)>),
}

/// One command of a test script.
#[derive(Debug, Clone)]
pub enum Command {
    /// `load <interval>` with its series.
    Load {
        /// Series labels and samples (later definitions of the same series win).
        series: Vec<(Labels, Vec<Sample>)>,
    },
    /// `clear`
    Clear,
    /// `eval*` with its expectations.
    Eval {
        /// 1-based line of the command.
        line: usize,
        /// The query.
        query: String,
        /// Evaluation time in milliseconds.
        time_ms: i64,
        /// `eval_fail`
        fail: bool,
        /// `eval_ordered`
        ordered: bool,
        /// Expected result.
        expected: Expected,
    },
}

/// A failed eval, with everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the eval command.
    pub line: usize,
    /// The query as run (possibly an `@` variant).
    pub query: String,
    /// How it was run and what went wrong, including expected and actual results.
    pub message: String,
}

/// Counts of one script run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Eval commands in the script.
    pub evals: usize,
    /// Queries executed (instant, range and `@` variants).
    pub queries: usize,
    /// Evals that did not behave as expected.
    pub failures: Vec<Failure>,
}

/// Parses a test script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let line_no = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match keyword {
            "clear" => commands.push(Command::Clear),
            "load" => {
                let interval = parse_duration(rest.trim()).map_err(|e| format!("line {line_no}: {e}"))?;
                let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    let def = lines[i].trim();
                    i += 1;
                    if def.starts_with('#') {
                        continue;
                    }
                    let (labels, samples) =
                        parse_series_def(def, interval).map_err(|e| format!("line {}: {e}", i))?;
                    series.retain(|(existing, _)| *existing != labels);
                    series.push((labels, samples));
                }
                commands.push(Command::Load { series });
            }
            "eval" | "eval_fail" | "eval_ordered" => {
                let (time_ms, query) = parse_eval_header(rest).map_err(|e| format!("line {line_no}: {e}"))?;
                let mut expected = Vec::new();
                let mut scalar = None;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    let def = lines[i].trim();
                    i += 1;
                    if def.starts_with('#') {
                        continue;
                    }
                    if let Some(value) = parse_number(def) {
                        scalar = Some(value);
                        continue;
                    }
                    let (labels, values) = parse_expected_line(def).map_err(|e| format!("line {i}: {e}"))?;
                    expected.push((labels, values));
                }
                commands.push(Command::Eval {
                    line: line_no,
                    query,
                    time_ms,
                    fail: keyword == "eval_fail",
                    ordered: keyword == "eval_ordered",
                    expected: match scalar {
                        Some(value) => Expected::Scalar(value),
                        None => Expected::Vector(expected),
                    },
                });
            }
            other => return Err(format!("line {line_no}: unknown command {other:?}")),
        }
    }
    Ok(commands)
}

fn parse_eval_header(rest: &str) -> Result<(i64, String), String> {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("instant").ok_or("only instant evals are supported")?.trim_start();
    let Some(after_at) = rest.strip_prefix("at ") else {
        return Ok((0, rest.to_string()));
    };
    let after_at = after_at.trim_start();
    let (duration, query) = after_at.split_once(char::is_whitespace).ok_or("missing query")?;
    Ok((parse_duration(duration)?, query.trim().to_string()))
}

/// Splits `metric{labels} rest` into labels and the remaining text.
fn split_series(def: &str) -> Result<(Labels, &str), String> {
    let bytes = def.as_bytes();
    let mut end = 0;
    while end < bytes.len() && !bytes[end].is_ascii_whitespace() && bytes[end] != b'{' {
        end += 1;
    }
    let name = &def[..end];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".to_string(), name.to_string()));
    }
    if end < bytes.len() && bytes[end] == b'{' {
        let mut close = end + 1;
        let mut quote: Option<u8> = None;
        while close < bytes.len() {
            let b = bytes[close];
            match quote {
                Some(_) if b == b'\\' => close += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
                None if b == b'}' => break,
                None => {}
            }
            close += 1;
        }
        if close >= bytes.len() {
            return Err(format!("unterminated label set in {def:?}"));
        }
        let tokens = tokenize(&def[end..=close]).map_err(|e| e.to_string())?;
        let mut k = 1;
        while k + 2 < tokens.len() {
            match (&tokens[k].token, &tokens[k + 1].token, &tokens[k + 2].token) {
                (Token::Ident(n), Token::Assign, Token::Str(v)) => {
                    pairs.retain(|(existing, _)| existing != n);
                    pairs.push((n.clone(), v.clone()));
                    k += 3;
                    if tokens[k].token == Token::Comma {
                        k += 1;
                    }
                }
                (Token::RBrace, _, _) => break,
                _ => return Err(format!("bad label set in {def:?}")),
            }
        }
        end = close + 1;
    }
    Ok((Labels::from_pairs(pairs), def[end..].trim()))
}

fn parse_series_def(def: &str, interval_ms: i64) -> Result<(Labels, Vec<Sample>), String> {
    let (labels, values) = split_series(def)?;
    let mut samples = Vec::new();
    let mut index: i64 = 0;
    for item in values.split_whitespace() {
        let mut push = |value: f64, index: &mut i64| {
            samples.push(Sample { timestamp_ms: *index * interval_ms, value });
            *index += 1;
        };
        if item == "_" {
            index += 1;
            continue;
        }
        if item == "stale" {
            push(stale_nan(), &mut index);
            continue;
        }
        if let Some(count) = item.strip_prefix("_x") {
            index += count.parse::<i64>().map_err(|_| format!("bad repetition {item:?}"))?;
            continue;
        }
        let (body, times) = match item.rsplit_once('x') {
            Some((body, times)) if !times.is_empty() && times.bytes().all(|b| b.is_ascii_digit()) => {
                (body, Some(times.parse::<u64>().map_err(|_| format!("bad repetition {item:?}"))?))
            }
            _ => (item, None),
        };
        let (start, delta) = split_start_delta(body)?;
        let Some(times) = times else {
            push(start, &mut index);
            continue;
        };
        let mut value = start;
        push(value, &mut index);
        for _ in 0..times {
            value += delta;
            push(value, &mut index);
        }
    }
    Ok((labels, samples))
}

/// Splits `a+b` / `a-b` (signs inside exponents excluded) into start and delta.
fn split_start_delta(body: &str) -> Result<(f64, f64), String> {
    let bytes = body.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E') {
            let start = parse_number(&body[..i]).ok_or_else(|| format!("bad value {body:?}"))?;
            let delta = parse_number(&body[i + 1..]).ok_or_else(|| format!("bad value {body:?}"))?;
            return Ok((start, if bytes[i] == b'-' { -delta } else { delta }));
        }
    }
    Ok((parse_number(body).ok_or_else(|| format!("bad value {body:?}"))?, 0.0))
}

fn parse_expected_line(def: &str) -> Result<(Labels, f64), String> {
    let (labels, rest) = split_series(def)?;
    let value = parse_number(rest.trim()).ok_or_else(|| format!("bad expected value in {def:?}"))?;
    Ok((labels, value))
}

/// Runs a whole script against a fresh in-memory storage.
pub async fn run_script(text: &str, options: EngineOptions) -> Result<RunReport, String> {
    let commands = parse_script(text)?;
    let storage = TestStorage::new();
    let engine = Engine::new(options);
    let mut report = RunReport::default();
    for command in commands {
        match command {
            Command::Clear => storage.clear(),
            Command::Load { series } => {
                for (labels, samples) in series {
                    storage.add(labels, samples);
                }
            }
            Command::Eval { line, query, time_ms, fail, ordered, expected } => {
                report.evals += 1;
                if let Err(failure) =
                    run_eval(&engine, &storage, line, &query, time_ms, fail, ordered, &expected, &mut report)
                        .await
                {
                    report.failures.push(failure);
                }
            }
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn run_eval(
    engine: &Engine,
    storage: &TestStorage,
    line: usize,
    query: &str,
    time_ms: i64,
    fail: bool,
    ordered: bool,
    expected: &Expected,
    report: &mut RunReport,
) -> Result<(), Failure> {
    let failure = |query: &str, message: String| Failure { line, query: query.to_string(), message };
    // As in Prometheus, a query that does not parse is a broken script, even for `eval_fail`.
    let expr = parse(query).map_err(|err| failure(query, format!("parse error: {err}")))?;
    let mut variants = vec![(expr.clone(), time_ms, query.to_string())];
    if let Some(pinned) = pin_at_modifiers(&expr, time_ms) {
        let times: Vec<i64> = if time_ms == 0 {
            vec![-1000, 0, 1000]
        } else {
            vec![-10 * time_ms, 0, time_ms / 5, time_ms, 10 * time_ms]
        };
        for t in times {
            variants.push((
                pinned.clone(),
                t,
                format!("{query} (all selectors @ {time_ms}ms, evaluated at {t}ms)"),
            ));
        }
    }
    for (expr, t, label) in variants {
        report.queries += 1;
        let result = engine.instant_query_expr(storage, &expr, t).await.map(|(v, _)| v);
        if fail {
            match result {
                Err(_) => continue,
                Ok(value) => {
                    return Err(failure(&label, format!("expected an error, got {}", describe(&value))));
                }
            }
        }
        let value = result.map_err(|err| failure(&label, format!("instant query failed: {err}")))?;
        compare(&value, expected, ordered)
            .map_err(|message| failure(&label, format!("instant query at {t}ms: {message}")))?;
        if ordered {
            continue;
        }
        for (start, end) in [(t, t), (t - 60_000, t + 60_000)] {
            report.queries += 1;
            let value = engine
                .range_query_expr(storage, &expr, start, end, 60_000)
                .await
                .map(|(v, _)| v)
                .map_err(|err| failure(&label, format!("range query [{start}, {end}] failed: {err}")))?;
            let at_time = value_at(&value, t, expected);
            compare(&at_time, expected, false).map_err(|message| {
                failure(&label, format!("range query [{start}, {end}] at {t}ms: {message}"))
            })?;
        }
    }
    Ok(())
}

/// The step `t` of a range result, as an instant result of the expected kind.
fn value_at(value: &QueryValue, t: i64, expected: &Expected) -> QueryValue {
    let QueryValue::Matrix(series) = value else { return value.clone() };
    let samples: Vec<crate::value::InstantSample> = series
        .iter()
        .filter_map(|s| {
            s.samples.iter().find(|p| p.timestamp_ms == t).map(|p| crate::value::InstantSample {
                labels: s.labels.clone(),
                timestamp_ms: t,
                value: p.value,
            })
        })
        .collect();
    match expected {
        Expected::Scalar(_) => {
            QueryValue::Scalar { timestamp_ms: t, value: samples.first().map_or(f64::NAN, |s| s.value) }
        }
        Expected::Vector(_) => QueryValue::Vector(samples),
    }
}

/// Prometheus's test tolerance: relative 1e-6, NaN equals NaN.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn compare(value: &QueryValue, expected: &Expected, ordered: bool) -> Result<(), String> {
    match (value, expected) {
        (QueryValue::Scalar { value, .. }, Expected::Scalar(want)) => {
            if almost_equal(*value, *want) {
                Ok(())
            } else {
                Err(format!("expected scalar {} but got {}", format_value(*want), format_value(*value)))
            }
        }
        (QueryValue::Vector(samples), Expected::Vector(want)) => {
            let got_text = || describe(value);
            if samples.len() != want.len() {
                return Err(format!(
                    "expected {} series {}, got {}",
                    want.len(),
                    describe_expected(want),
                    got_text()
                ));
            }
            for (position, sample) in samples.iter().enumerate() {
                let Some(index) = want.iter().position(|(labels, _)| *labels == sample.labels) else {
                    return Err(format!("unexpected series {} in result {}", sample.labels, got_text()));
                };
                if ordered && index != position {
                    return Err(format!(
                        "expected {} at position {} but it was at {}: {}",
                        sample.labels,
                        index + 1,
                        position + 1,
                        got_text()
                    ));
                }
                if !almost_equal(want[index].1, sample.value) {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        format_value(want[index].1),
                        sample.labels,
                        format_value(sample.value)
                    ));
                }
            }
            Ok(())
        }
        (other, Expected::Scalar(want)) => {
            Err(format!("expected scalar {} but got {}", format_value(*want), describe(other)))
        }
        (other, Expected::Vector(want)) => {
            Err(format!("expected vector {} but got {}", describe_expected(want), describe(other)))
        }
    }
}

fn describe_expected(want: &[(Labels, f64)]) -> String {
    let mut out = String::from("[");
    for (labels, value) in want {
        let _ = write!(out, " {labels} => {}", format_value(*value));
    }
    out.push_str(" ]");
    out
}

fn describe(value: &QueryValue) -> String {
    match value {
        QueryValue::Scalar { value, .. } => format!("scalar {}", format_value(*value)),
        QueryValue::String { value, .. } => format!("string {value:?}"),
        QueryValue::Vector(samples) => {
            let mut out = String::from("vector [");
            for sample in samples {
                let _ = write!(out, " {} => {}", sample.labels, format_value(sample.value));
            }
            out.push_str(" ]");
            out
        }
        QueryValue::Matrix(series) => format!("matrix with {} series", series.len()),
    }
}

/// Pins every selector and outermost subquery without `@` to `@ time_ms`, as Prometheus's runner
/// does; `None` when the query uses a function whose result depends on the evaluation time.
pub fn pin_at_modifiers(expr: &Expr, time_ms: i64) -> Option<Expr> {
    if uses_at_unsafe_function(expr) {
        return None;
    }
    let mut pinned = expr.clone();
    pin(&mut pinned, time_ms);
    Some(pinned)
}

fn uses_at_unsafe_function(expr: &Expr) -> bool {
    match expr {
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } => false,
        Expr::Paren(inner) | Expr::Unary { expr: inner, .. } | Expr::Subquery { expr: inner, .. } => {
            uses_at_unsafe_function(inner)
        }
        Expr::Binary { lhs, rhs, .. } => uses_at_unsafe_function(lhs) || uses_at_unsafe_function(rhs),
        Expr::Aggregate { expr, param, .. } => {
            uses_at_unsafe_function(expr) || param.as_deref().is_some_and(uses_at_unsafe_function)
        }
        Expr::Call { func, args } => {
            is_at_modifier_unsafe(func.kind) || args.iter().any(uses_at_unsafe_function)
        }
    }
}

fn pin(expr: &mut Expr, time_ms: i64) {
    match expr {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::Paren(inner) | Expr::Unary { expr: inner, .. } => pin(inner, time_ms),
        Expr::Binary { lhs, rhs, .. } => {
            pin(lhs, time_ms);
            pin(rhs, time_ms);
        }
        Expr::Aggregate { expr, param, .. } => {
            pin(expr, time_ms);
            if let Some(param) = param {
                pin(param, time_ms);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|arg| pin(arg, time_ms)),
        Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => {
            selector.at.get_or_insert(AtModifier::Timestamp(time_ms));
        }
        // Selectors inside a subquery keep their own times; the subquery itself is pinned.
        Expr::Subquery { at, .. } => {
            at.get_or_insert(AtModifier::Timestamp(time_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_definitions_expand() {
        let (labels, samples) =
            parse_series_def("m{a=\"b c\", d='e'} 1+2x2 _ stale _x2 0x1 -1-1x1 1e-3+1e-3x1", 10).unwrap();
        assert_eq!(labels, Labels::from_pairs([("__name__", "m"), ("a", "b c"), ("d", "e")]));
        let values: Vec<(i64, f64)> = samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(values[..3], [(0, 1.0), (10, 3.0), (20, 5.0)]);
        assert!(neocortex_core::is_stale_nan(values[3].1) && values[3].0 == 40);
        assert_eq!(values[4..8], [(70, 0.0), (80, 0.0), (90, -1.0), (100, -2.0)]);
        assert_eq!(values[8..], [(110, 0.001), (120, 0.002)]);
    }

    #[test]
    fn scripts_parse_and_run() {
        let script = "load 5m\n  up{job=\"a\"} 0+1x10\n\neval instant at 50m up\n  up{job=\"a\"} 10\n\neval instant at 50m 1+1\n  2\n\neval_fail instant at 0m label_replace(up, \"dst\", \"\", \"job\", \"(\")\n";
        let report = futures::executor::block_on(run_script(script, test_engine_options())).unwrap();
        assert_eq!(report.evals, 3);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }

    #[test]
    fn tolerance_matches_prometheus() {
        assert!(almost_equal(3.249615, 3.249_615_361_854_384));
        assert!(!almost_equal(1.0, 1.0001));
        assert!(almost_equal(f64::NAN, f64::NAN));
    }
}
