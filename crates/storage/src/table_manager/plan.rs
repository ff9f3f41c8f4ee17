//! The table manager's decisions, free of I/O and of the clock: which tables should exist at a
//! given time and with which settings, and what to create, check and delete given the tables
//! that do exist.
//!
//! Rules (Cortex's, with the retention edge made exact):
//! - a period's tables are expected from the table holding the period's `from` up to the table
//!   holding `now + creation_grace_period` (tables starting at or before that instant), and not
//!   beyond the start of the next period; periods starting after `now + grace` have none yet;
//! - with a retention period `R > 0`, tables whose whole range ends at or before `now - R` are
//!   not expected (so data is kept at least `R` and at most `R` plus one table period);
//! - a table is *active* from `grace` before its start until `max_chunk_age` after its end
//!   (late flushes still write to it) and gets the active provisioning, otherwise the inactive;
//! - a non-periodic table (period 0) is active until `max_chunk_age` after its schema period
//!   ends and is never deleted;
//! - only tables named `<prefix><period number>` with a prefix of the schema's periodic tables
//!   on the same backend, and entirely older than the retention, are deleted: never a foreign
//!   table, never one still inside the retention.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::schema::config::{PeriodicTableConfig, SchemaConfig};
use crate::table_client::TableDesc;
use crate::table_manager::config::{ProvisionConfig, TableManagerConfig};

/// Which table backend holds a table; one table client serves each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableBackend {
    /// The embedded redb index (`redb`, Cortex's `boltdb`).
    Local,
    /// The in-memory index (`inmemory`).
    InMemory,
    /// DynamoDB (`aws`, `aws-dynamo`).
    Aws,
    /// Bigtable (`bigtable`, `bigtable-hashed`, `gcp`, `gcp-columnkey`).
    Gcp,
    /// Cassandra (`cassandra`).
    Cassandra,
}

impl TableBackend {
    /// The backend of a schema `store` / `object_store` name that keeps tables; `None` for
    /// object stores without tables (`filesystem`, `s3`, `gcs`, `azure`).
    pub fn for_store(store: &str) -> Option<Self> {
        match store {
            "redb" | "boltdb" => Some(TableBackend::Local),
            "inmemory" => Some(TableBackend::InMemory),
            "aws" | "aws-dynamo" => Some(TableBackend::Aws),
            "bigtable" | "bigtable-hashed" | "gcp" | "gcp-columnkey" => Some(TableBackend::Gcp),
            "cassandra" => Some(TableBackend::Cassandra),
            _ => None,
        }
    }

    /// A short name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            TableBackend::Local => "redb",
            TableBackend::InMemory => "inmemory",
            TableBackend::Aws => "dynamodb",
            TableBackend::Gcp => "bigtable",
            TableBackend::Cassandra => "cassandra",
        }
    }
}

/// Whether a table holds index entries or chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// Index tables (`schema.configs[].index`).
    Index,
    /// Chunk tables (`schema.configs[].chunks`, table-based object stores only).
    Chunk,
}

/// A table the schema wants to exist now, on which backend, with which settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTable {
    /// The backend that holds it.
    pub backend: TableBackend,
    /// Index or chunk table.
    pub kind: TableKind,
    /// Whether it gets the active provisioning.
    pub active: bool,
    /// Name, capacity and tags.
    pub desc: TableDesc,
}

/// The times the plan depends on, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanClock {
    /// The current time (Unix ms).
    pub now_ms: i64,
    /// `creation_grace_period`.
    pub grace_ms: i64,
    /// The ingester's `max_chunk_age`: how long after its end a table still receives writes.
    pub max_chunk_age_ms: i64,
    /// `retention_period`; 0 disables retention.
    pub retention_ms: i64,
}

impl PlanClock {
    /// The clock for `config` at `now_ms`.
    pub fn new(config: &TableManagerConfig, max_chunk_age: Duration, now_ms: i64) -> Self {
        Self {
            now_ms,
            grace_ms: millis(config.creation_grace_period.0),
            max_chunk_age_ms: millis(max_chunk_age),
            retention_ms: config.retention_ms(),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn describe(
    name: String,
    active: bool,
    provisioning: &ProvisionConfig,
    table: &PeriodicTableConfig,
) -> TableDesc {
    let (use_on_demand_mode, provisioned_read, provisioned_write) = if active {
        (
            provisioning.enable_ondemand_throughput_mode,
            provisioning.provisioned_read_throughput,
            provisioning.provisioned_write_throughput,
        )
    } else {
        (
            provisioning.enable_inactive_throughput_on_demand_mode,
            provisioning.inactive_read_throughput,
            provisioning.inactive_write_throughput,
        )
    };
    TableDesc { name, use_on_demand_mode, provisioned_read, provisioned_write, tags: table.tags.clone() }
}

/// Every table the schema wants at `clock.now_ms`, sorted by backend then name. A table two
/// periods share (same name) appears once, with the later period's settings.
pub fn expected_tables(
    schema: &SchemaConfig,
    config: &TableManagerConfig,
    clock: PlanClock,
) -> Vec<ExpectedTable> {
    let horizon = clock.now_ms.saturating_add(clock.grace_ms);
    let mut tables: BTreeMap<(TableBackend, String), ExpectedTable> = BTreeMap::new();
    for (index, period) in schema.configs.iter().enumerate() {
        let start = period.from.start_ms;
        if start > horizon {
            continue;
        }
        let end = schema.configs.get(index + 1).map(|next| next.from.start_ms);
        let mut kinds =
            vec![(TableKind::Index, period.store.as_str(), &period.index, &config.index_tables_provisioning)];
        if period.chunks_in_tables() {
            kinds.push((
                TableKind::Chunk,
                period.object_store_name(),
                &period.chunks,
                &config.chunk_tables_provisioning,
            ));
        }
        for (kind, store, table, provisioning) in kinds {
            let Some(backend) = TableBackend::for_store(store) else { continue };
            for (name, active) in period_tables(table, start, end, clock) {
                if name.is_empty() {
                    continue;
                }
                let desc = describe(name.clone(), active, provisioning, table);
                tables.insert((backend, name), ExpectedTable { backend, kind, active, desc });
            }
        }
    }
    tables.into_values().collect()
}

/// The tables of one periodic table config over a schema period `[start, end)`, each with
/// whether it is active.
fn period_tables(
    table: &PeriodicTableConfig,
    start: i64,
    end: Option<i64>,
    clock: PlanClock,
) -> Vec<(String, bool)> {
    let period = table.period_ms();
    let now = clock.now_ms;
    if period == 0 {
        let active = end.is_none_or(|end| now < end.saturating_add(clock.max_chunk_age_ms));
        return vec![(table.prefix.clone(), active)];
    }
    let horizon = now.saturating_add(clock.grace_ms);
    let mut first = start.div_euclid(period);
    let mut last = horizon.div_euclid(period);
    if let Some(end) = end {
        last = last.min((end - 1).div_euclid(period));
    }
    if clock.retention_ms > 0 {
        // Keep table n while its end, (n + 1) * period, is after now - retention.
        first = first.max(now.saturating_sub(clock.retention_ms).div_euclid(period));
    }
    (first..=last)
        .map(|number| {
            let table_start = number * period;
            let table_end = table_start + period;
            let active =
                table_start - clock.grace_ms <= now && now < table_end.saturating_add(clock.max_chunk_age_ms);
            (table.table_for_period(number), active)
        })
        .collect()
}

/// A family of periodic tables the manager owns: `<prefix><n>`, each covering `period_ms`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagedPrefix {
    /// The backend holding them.
    pub backend: TableBackend,
    /// The name prefix (never empty).
    pub prefix: String,
    /// The table period.
    pub period_ms: i64,
}

/// The periodic table families of every period of the schema (whether or not it has started).
/// Empty prefixes are left out: they would claim every table named by a bare number.
pub fn managed_prefixes(schema: &SchemaConfig) -> Vec<ManagedPrefix> {
    let mut prefixes = BTreeSet::new();
    for period in &schema.configs {
        let mut tables = vec![(period.store.as_str(), &period.index)];
        if period.chunks_in_tables() {
            tables.push((period.object_store_name(), &period.chunks));
        }
        for (store, table) in tables {
            let Some(backend) = TableBackend::for_store(store) else { continue };
            if table.prefix.is_empty() || table.period_ms() == 0 {
                continue;
            }
            prefixes.insert(ManagedPrefix {
                backend,
                prefix: table.prefix.clone(),
                period_ms: table.period_ms(),
            });
        }
    }
    prefixes.into_iter().collect()
}

/// The backends whose tables the schema uses (each needs a table client).
pub fn backends_in(schema: &SchemaConfig) -> BTreeSet<TableBackend> {
    let mut backends = BTreeSet::new();
    for period in &schema.configs {
        backends.extend(TableBackend::for_store(&period.store));
        if period.chunks_in_tables() {
            backends.extend(TableBackend::for_store(period.object_store_name()));
        }
    }
    backends
}

/// What to do on one backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Expected tables that do not exist.
    pub create: Vec<TableDesc>,
    /// Expected tables that exist: describe them and update their settings if they differ.
    pub check: Vec<TableDesc>,
    /// Our tables past the retention period.
    pub delete: Vec<String>,
}

/// The period number of `name` if it is `<prefix><n>` exactly as the schema forms names.
fn period_number(name: &str, prefix: &str) -> Option<i64> {
    let digits = name.strip_prefix(prefix)?;
    let number: i64 = digits.parse().ok()?;
    (number >= 0 && number.to_string() == digits).then_some(number)
}

/// Whether `name` is one of our periodic tables and entirely older than the retention under
/// every family it could belong to.
fn expired(name: &str, managed: &[&ManagedPrefix], clock: PlanClock) -> bool {
    let cutoff = clock.now_ms.saturating_sub(clock.retention_ms);
    let mut matched = false;
    for family in managed {
        if let Some(number) = period_number(name, &family.prefix) {
            matched = true;
            let end = number.saturating_add(1).saturating_mul(family.period_ms);
            if end > cutoff {
                return false;
            }
        }
    }
    matched
}

/// Compares what `backend` holds (`existing`) with what it should hold.
pub fn plan_sync(
    backend: TableBackend,
    expected: &[ExpectedTable],
    existing: &[String],
    managed: &[ManagedPrefix],
    clock: PlanClock,
) -> SyncPlan {
    let existing_set: BTreeSet<&str> = existing.iter().map(String::as_str).collect();
    let mut plan = SyncPlan::default();
    let mut wanted = BTreeSet::new();
    for table in expected.iter().filter(|table| table.backend == backend) {
        wanted.insert(table.desc.name.as_str());
        if existing_set.contains(table.desc.name.as_str()) {
            plan.check.push(table.desc.clone());
        } else {
            plan.create.push(table.desc.clone());
        }
    }
    if clock.retention_ms > 0 {
        let families: Vec<&ManagedPrefix> =
            managed.iter().filter(|family| family.backend == backend).collect();
        plan.delete = existing_set
            .iter()
            .filter(|name| !wanted.contains(*name) && expired(name, &families, clock))
            .map(|name| name.to_string())
            .collect();
    }
    plan
}

/// Whether a table described as `current` must be updated to `expected`: a different capacity
/// mode, different provisioned capacity (unless on-demand) or different tags.
pub fn needs_update(current: &TableDesc, expected: &TableDesc) -> bool {
    if current.use_on_demand_mode != expected.use_on_demand_mode {
        return true;
    }
    if !expected.use_on_demand_mode
        && (current.provisioned_read != expected.provisioned_read
            || current.provisioned_write != expected.provisioned_write)
    {
        return true;
    }
    current.tags != expected.tags
}

/// The time before which chunk objects may be deleted by retention at `clock`: chunks whose
/// last sample is before it have every index row in index tables the retention deletes. It is
/// the start of the index table holding `now - retention`, the earliest such start over the
/// schema periods begun by then; `None` without retention, or when such a period's index is a
/// single table (never deleted, so its rows would point at deleted chunks).
pub fn chunk_retention_cutoff(schema: &SchemaConfig, clock: PlanClock) -> Option<i64> {
    if clock.retention_ms <= 0 {
        return None;
    }
    let horizon = clock.now_ms.saturating_sub(clock.retention_ms);
    let mut cutoff: Option<i64> = None;
    for period in schema.configs.iter().filter(|period| period.from.start_ms <= horizon) {
        let table_period = period.index.period_ms();
        if table_period <= 0 {
            return None;
        }
        let start = horizon.div_euclid(table_period) * table_period;
        cutoff = Some(cutoff.map_or(start, |known| known.min(start)));
    }
    cutoff
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
