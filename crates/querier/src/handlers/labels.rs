//! `GET|POST /api/v1/labels` and `GET /api/v1/label/{name}/values`.

use axum::extract::{Path, Request, State};
use futures::future::try_join_all;
use neocortex_core::labels::is_valid_label_name;
use neocortex_core::SelectHints;

use crate::form::FormParams;
use crate::go_quote::quote;
use crate::json;
use crate::merge::merge_sorted_unique;
use crate::response::{ApiError, ApiResponse};
use crate::selector::parse_match_params;
use crate::state::ReadApiState;
use crate::tenant::Tenant;
use crate::time_param::{time_param, MAX_TIME_MS, MIN_TIME_MS};

/// Reads `start`, `end` and the optional `match[]` selectors, in Prometheus's order (its
/// selector errors are not wrapped in `invalid parameter` here, unlike `/series`).
async fn read_params(request: Request) -> Result<(SelectHints, Vec<Vec<neocortex_core::Matcher>>), ApiError> {
    let params = FormParams::from_request(request).await?;
    let start_ms = time_param(&params, "start", MIN_TIME_MS)?;
    let end_ms = time_param(&params, "end", MAX_TIME_MS)?;
    let matcher_sets = parse_match_params(params.values("match[]")).map_err(ApiError::bad_data)?;
    Ok((SelectHints { start_ms, end_ms }, matcher_sets))
}

pub(crate) async fn label_names(
    State(state): State<ReadApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let (hints, matcher_sets) = read_params(request).await?;
    let queryable = state.source().queryable(&tenant);
    let names = if matcher_sets.is_empty() {
        state.with_timeout(queryable.label_names(hints, &[])).await?
    } else {
        let per_selector = matcher_sets.iter().map(|matchers| queryable.label_names(hints, matchers));
        merge_sorted_unique(state.with_timeout(try_join_all(per_selector)).await?)
    };
    Ok(ApiResponse::success(|out| json::write_string_array(out, names.iter().map(String::as_str))))
}

pub(crate) async fn label_values(
    State(state): State<ReadApiState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    if !is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {}", quote(&name))));
    }
    let (hints, matcher_sets) = read_params(request).await?;
    let queryable = state.source().queryable(&tenant);
    let values = if matcher_sets.is_empty() {
        state.with_timeout(queryable.label_values(hints, &name, &[])).await?
    } else {
        let per_selector = matcher_sets.iter().map(|matchers| queryable.label_values(hints, &name, matchers));
        merge_sorted_unique(state.with_timeout(try_join_all(per_selector)).await?)
    };
    tracing::debug!(tenant = %tenant, label = %name, values = values.len(), "label values answered");
    Ok(ApiResponse::success(|out| {
        out.reserve(values.iter().map(|value| value.len() + 3).sum());
        json::write_string_array(out, values.iter().map(String::as_str));
    }))
}
