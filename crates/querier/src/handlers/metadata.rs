//! `GET /api/v1/metadata`: metric metadata (type, help, unit) per metric family name.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use neocortex_core::MetricMetadata;

use crate::form::FormParams;
use crate::json;
use crate::response::{ApiError, ApiResponse};
use crate::state::ReadApiState;
use crate::tenant::Tenant;

pub(crate) async fn metadata(
    State(state): State<ReadApiState>,
    Tenant(tenant): Tenant,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let params = FormParams::from_request(request).await?;
    let limit = match params.value("limit") {
        "" => None,
        text => {
            let limit: i64 = text.parse().map_err(|_| ApiError::bad_data("limit must be a number"))?;
            usize::try_from(limit).ok()
        }
    };
    let metric = Some(params.value("metric")).filter(|metric| !metric.is_empty());
    let entries = state.source().metadata(&tenant, metric, limit);
    let by_metric = group_by_metric(&entries, limit);
    Ok(ApiResponse::success(|out| write_metadata(out, &by_metric)))
}

/// The distinct (type, help, unit) of each metric, metrics in name order, at most `limit` of them.
fn group_by_metric(entries: &[MetricMetadata], limit: Option<usize>) -> BTreeMap<&str, Vec<&MetricMetadata>> {
    let mut by_metric: BTreeMap<&str, Vec<&MetricMetadata>> = BTreeMap::new();
    for entry in entries {
        let same_metric = by_metric.entry(entry.metric_family_name.as_str()).or_default();
        let is_duplicate = same_metric.iter().any(|seen| {
            seen.metric_type == entry.metric_type && seen.help == entry.help && seen.unit == entry.unit
        });
        if !is_duplicate {
            same_metric.push(entry);
        }
    }
    if let Some(limit) = limit {
        while by_metric.len() > limit {
            by_metric.pop_last();
        }
    }
    by_metric
}

fn write_metadata(out: &mut Vec<u8>, by_metric: &BTreeMap<&str, Vec<&MetricMetadata>>) {
    out.push(b'{');
    for (metric_position, (metric, entries)) in by_metric.iter().enumerate() {
        if metric_position > 0 {
            out.push(b',');
        }
        json::write_string(out, metric);
        out.extend_from_slice(b":[");
        for (entry_position, entry) in entries.iter().enumerate() {
            if entry_position > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"type\":");
            json::write_string(out, &entry.metric_type);
            out.extend_from_slice(b",\"help\":");
            json::write_string(out, &entry.help);
            out.extend_from_slice(b",\"unit\":");
            json::write_string(out, &entry.unit);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
}
