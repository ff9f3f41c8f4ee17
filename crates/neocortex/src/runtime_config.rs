//! The runtime config file (`-runtime-config.file`): per-tenant limit overrides, re-read every
//! `-runtime-config.reload-period` and swapped in without a restart. A file that fails to parse
//! leaves the previous overrides in force.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use neocortex_core::{ConfigSection, Limits, Overrides};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The shape of the runtime config file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuntimeFile {
    /// Tenant id -> limits that differ from the defaults.
    overrides: HashMap<String, serde_norway::Value>,
}

/// Parses the runtime file; each tenant's limits start from `defaults` (the configured ones).
pub fn parse_runtime_config(text: &str, defaults: &Limits) -> anyhow::Result<HashMap<String, Limits>> {
    if text.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let file: RuntimeFile = serde_norway::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
    let base = serde_json::to_value(defaults)?;
    let mut out = HashMap::new();
    for (tenant, partial) in file.overrides {
        let partial: Value = serde_json::to_value(&partial)?;
        let mut merged = base.clone();
        if let (Value::Object(target), Value::Object(changes)) = (&mut merged, partial) {
            for (key, value) in changes {
                target.insert(key, value);
            }
        } else {
            anyhow::bail!("overrides for tenant {tenant:?} must be a map of limits");
        }
        let limits: Limits =
            serde_json::from_value(merged).with_context(|| format!("overrides for tenant {tenant:?}"))?;
        limits
            .validate()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("overrides for tenant {tenant:?}"))?;
        out.insert(tenant, limits);
    }
    Ok(out)
}

/// Loads `path` once into `overrides`.
pub fn load_into(path: &Path, overrides: &Overrides) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading runtime config {}", path.display()))?;
    let per_tenant = parse_runtime_config(&text, overrides.defaults())
        .with_context(|| format!("runtime config {}", path.display()))?;
    overrides.replace(per_tenant);
    Ok(())
}

/// Metrics of the reloader.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfigMetrics {
    last_reload_successful: Gauge,
}

impl RuntimeConfigMetrics {
    /// Registers the reloader's metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "cortex_runtime_config_last_reload_successful",
            "Whether the last runtime-config reload attempt was successful",
            metrics.last_reload_successful.clone(),
        );
        metrics
    }
}

/// Re-reads the file every `period` until `stop` is cancelled.
pub fn spawn_reloader(
    path: PathBuf,
    period: Duration,
    overrides: Overrides,
    metrics: RuntimeConfigMetrics,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period.max(Duration::from_millis(100)));
        ticker.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match load_into(&path, &overrides) {
                Ok(()) => {
                    metrics.last_reload_successful.set(1);
                }
                Err(err) => {
                    metrics.last_reload_successful.set(0);
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "runtime config reload failed; keeping previous overrides"
                    );
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_overrides_start_from_configured_defaults() {
        let defaults = Limits { max_label_names_per_series: 40, ..Limits::default() };
        let parsed =
            parse_runtime_config("overrides:\n  team-a:\n    ingestion_rate: 10\n", &defaults).unwrap();
        let limits = &parsed["team-a"];
        assert_eq!(limits.ingestion_rate, 10.0);
        assert_eq!(limits.max_label_names_per_series, 40);
    }

    #[test]
    fn unknown_limit_is_an_error() {
        let err = parse_runtime_config("overrides:\n  a:\n    ingestion_rat: 10\n", &Limits::default())
            .unwrap_err();
        assert!(format!("{err:#}").contains("ingestion_rat"));
        assert!(parse_runtime_config("overidez: {}\n", &Limits::default()).is_err());
    }
}
