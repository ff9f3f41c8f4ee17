//! `GET|POST /api/v1/query` and `GET|POST /api/v1/query_range`: PromQL through the engine, with
//! Cortex's per-tenant query limits (`max_query_length`, `max_query_lookback`) applied first.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use neocortex_core::{ErrorCode, Limits, Queryable, TenantId};
use neocortex_promql::{Engine, Expr, PromqlError, QueryStats, QueryValue};

use crate::form::FormParams;
use crate::query_params::{instant_query_params, range_query_params};
use crate::response::{ApiError, ApiResponse};
use crate::state::QueryApiState;
use crate::tenant::Tenant;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn promql_error(err: PromqlError) -> ApiError {
    ApiError::new(err.code(), err.to_string())
}

/// The engine for one request: the querier's settings, with the request's `timeout` when shorter.
fn engine_for(state: &QueryApiState, timeout_nanos: Option<i64>) -> Engine {
    let mut options = state.engine_options().clone();
    if let Some(nanos) = timeout_nanos.filter(|n| *n > 0) {
        options.timeout = options.timeout.min(Duration::from_nanos(nanos as u64));
    }
    Engine::new(options)
}

/// Checks `max_query_length` and applies `max_query_lookback` as Cortex does: the start is moved
/// forward to `now - lookback`; `None` when nothing of the range is left to query.
fn apply_time_limits(limits: &Limits, start_ms: i64, end_ms: i64, now: i64) -> Result<Option<i64>, ApiError> {
    let mut start_ms = start_ms;
    let lookback_ms = limits.max_query_lookback.0.as_millis() as i64;
    if lookback_ms > 0 {
        start_ms = start_ms.max(now - lookback_ms);
        if end_ms < start_ms {
            return Ok(None);
        }
    }
    let max_length_ms = limits.max_query_length.0.as_millis() as i64;
    if max_length_ms > 0 && end_ms - start_ms > max_length_ms {
        return Err(ApiError::bad_data(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            go_duration_ms(end_ms - start_ms),
            go_duration_ms(max_length_ms)
        )));
    }
    Ok(Some(start_ms))
}

fn go_duration_ms(ms: i64) -> String {
    neocortex_core::duration::format_go_duration(Duration::from_millis(ms.max(0) as u64))
}

/// Runs the CPU-bound evaluation off the async workers, bounded by `querier.max_concurrent`.
async fn evaluate(
    state: &QueryApiState,
    run: impl FnOnce() -> Result<(QueryValue, QueryStats), PromqlError> + Send + 'static,
) -> Result<(QueryValue, QueryStats, Duration), ApiError> {
    let queued = Instant::now();
    let _permit = state
        .query_permits()
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "querier is shutting down"))?;
    let queue_time = queued.elapsed();
    let joined = tokio::task::spawn_blocking(run)
        .await
        .map_err(|err| ApiError::new(ErrorCode::Internal, format!("query evaluation failed: {err}")))?;
    let (value, stats) = joined.map_err(promql_error)?;
    Ok((value, stats, queue_time))
}

fn respond(value: &QueryValue, stats: Option<(QueryStats, Duration, Duration)>) -> ApiResponse {
    ApiResponse::success(|out| {
        value.write_json(out);
        if let Some((stats, queue_time, total)) = stats {
            // The data object is `{...}`: add the statistics as its last member.
            out.pop();
            out.extend_from_slice(stats_json(&stats, queue_time, total).as_bytes());
            out.push(b'}');
        }
    })
}

fn stats_json(stats: &QueryStats, queue_time: Duration, total: Duration) -> String {
    let eval = stats.eval_time.as_secs_f64();
    let prepare = stats.fetch_time.as_secs_f64();
    format!(
        ",\"stats\":{{\"timings\":{{\"evalTotalTime\":{},\"resultSortTime\":0,\"queryPreparationTime\":{},\"innerEvalTime\":{},\"execQueueTime\":{},\"execTotalTime\":{}}},\"samples\":{{\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
        eval + prepare,
        prepare,
        eval,
        queue_time.as_secs_f64(),
        total.as_secs_f64(),
        stats.fetched_samples,
        stats.peak_samples
    )
}

fn empty_result(instant: bool) -> QueryValue {
    if instant {
        QueryValue::Vector(Vec::new())
    } else {
        QueryValue::Matrix(Vec::new())
    }
}

pub(crate) async fn instant_query(
    State(state): State<QueryApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let started = Instant::now();
    let params = FormParams::from_request(request).await?;
    let now = now_ms();
    let query = instant_query_params(&params, now)?;
    let limits = state.overrides().for_tenant(tenant.as_str());
    if apply_time_limits(&limits, query.time_ms, query.time_ms, now)?.is_none() {
        return Ok(respond(&empty_result(true), None));
    }
    let time_ms = query.time_ms;
    run_query(
        &state,
        &tenant,
        query.query,
        query.timeout_nanos,
        &query.stats,
        started,
        move |engine, queryable, expr| handle_block_on(engine.instant_query_expr(queryable, expr, time_ms)),
    )
    .await
}

pub(crate) async fn range_query(
    State(state): State<QueryApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let started = Instant::now();
    let params = FormParams::from_request(request).await?;
    let query = range_query_params(&params)?;
    let limits = state.overrides().for_tenant(tenant.as_str());
    let step_ms = query.step_ms();
    let Some(start_ms) = apply_time_limits(&limits, query.start_ms, query.end_ms, now_ms())? else {
        return Ok(respond(&empty_result(false), None));
    };
    // Keep the steps aligned to the requested start when the lookback limit moved it.
    let start_ms = if start_ms == query.start_ms {
        start_ms
    } else {
        let step = step_ms.max(1);
        let skipped = start_ms - query.start_ms;
        query.start_ms + (skipped + step - 1) / step * step
    };
    if start_ms > query.end_ms {
        return Ok(respond(&empty_result(false), None));
    }
    let end_ms = query.end_ms;
    run_query(
        &state,
        &tenant,
        query.query,
        query.timeout_nanos,
        &query.stats,
        started,
        move |engine, queryable, expr| {
            handle_block_on(engine.range_query_expr(queryable, expr, start_ms, end_ms, step_ms))
        },
    )
    .await
}

/// Runs a future to completion on the runtime this blocking thread was spawned from.
fn handle_block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(future)
}

/// Parses and evaluates one query for `tenant` off the async workers, then renders the answer.
async fn run_query(
    state: &QueryApiState,
    tenant: &TenantId,
    text: String,
    timeout_nanos: Option<i64>,
    stats_param: &str,
    started: Instant,
    evaluate_expr: impl FnOnce(&Engine, &dyn Queryable, &Expr) -> Result<(QueryValue, QueryStats), PromqlError>
        + Send
        + 'static,
) -> Result<ApiResponse, ApiError> {
    let engine = engine_for(state, timeout_nanos);
    let queryable: Arc<dyn Queryable> = state.read().source().queryable(tenant);
    let (value, stats, queue_time) = evaluate(state, move || {
        let expr = neocortex_promql::parse(&text)?;
        evaluate_expr(&engine, queryable.as_ref(), &expr)
    })
    .await?;
    let stats = (!stats_param.is_empty()).then(|| (stats, queue_time, started.elapsed()));
    Ok(respond(&value, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use neocortex_core::duration::ModelDuration;

    #[test]
    fn max_query_length_refuses_long_ranges() {
        let limits =
            Limits { max_query_length: ModelDuration(Duration::from_secs(3600)), ..Limits::default() };
        assert!(apply_time_limits(&limits, 0, 3_600_000, 10).unwrap().is_some());
        let err = apply_time_limits(&limits, 0, 3_600_001, 10).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadData);
        assert!(err.message.contains("query length: 1h0m0.001s, limit: 1h0m0s"), "{}", err.message);
    }

    #[test]
    fn max_query_lookback_moves_the_start() {
        let limits =
            Limits { max_query_lookback: ModelDuration(Duration::from_secs(60)), ..Limits::default() };
        let now = 1_000_000;
        assert_eq!(apply_time_limits(&limits, 0, now, now).unwrap(), Some(now - 60_000));
        assert_eq!(apply_time_limits(&limits, 0, now - 120_000, now).unwrap(), None);
    }
}
