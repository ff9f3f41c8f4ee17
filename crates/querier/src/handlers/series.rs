//! `GET|POST /api/v1/series`: the label sets of series matching any `match[]` selector.

use axum::extract::{Request, State};
use futures::future::try_join_all;
use neocortex_core::{Labels, SelectHints};

use crate::form::FormParams;
use crate::json;
use crate::merge::merge_sorted_unique;
use crate::response::{ApiError, ApiResponse};
use crate::selector::parse_match_params;
use crate::state::ReadApiState;
use crate::tenant::Tenant;
use crate::time_param::{time_param, MAX_TIME_MS, MIN_TIME_MS};

pub(crate) async fn series(
    State(state): State<ReadApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let params = FormParams::from_request(request).await?;
    if let Some(parse_error) = params.parse_error() {
        return Err(ApiError::bad_data(format!("error parsing form values: {parse_error}")));
    }
    if params.values("match[]").next().is_none() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start_ms = time_param(&params, "start", MIN_TIME_MS)?;
    let end_ms = time_param(&params, "end", MAX_TIME_MS)?;
    let matcher_sets = parse_match_params(params.values("match[]"))
        .map_err(|error| ApiError::invalid_param("match[]", error))?;

    let queryable = state.source().queryable(&tenant);
    let hints = SelectHints { start_ms, end_ms };
    let per_selector = matcher_sets.iter().map(|matchers| queryable.series(hints, matchers));
    let mut results = state.with_timeout(try_join_all(per_selector)).await?;
    let series =
        if results.len() == 1 { results.pop().unwrap_or_default() } else { merge_sorted_unique(results) };
    tracing::debug!(tenant = %tenant, series = series.len(), "series request answered");

    Ok(ApiResponse::success(|out| write_series(out, &series)))
}

fn write_series(out: &mut Vec<u8>, series: &[Labels]) {
    let estimated: usize = series.iter().take(64).map(|labels| 16 + labels.len() * 24).sum();
    out.reserve(estimated.saturating_mul(series.len().max(1)) / series.len().clamp(1, 64));
    out.push(b'[');
    for (position, labels) in series.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        json::write_labels_object(out, labels);
    }
    out.push(b']');
}
