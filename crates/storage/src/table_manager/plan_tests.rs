//! Planning at fixed times: period boundaries, the creation grace period, the retention edge,
//! several periods with different prefixes, periods and backends.

use super::*;
use crate::schema::day::MS_PER_DAY;

const WEEK: i64 = 7 * MS_PER_DAY;
const HOUR: i64 = 3_600_000;
const GRACE: i64 = 10 * 60_000;
const MAX_CHUNK_AGE: i64 = 12 * HOUR;

/// Start of epoch week `n` (weeks start on Thursdays: the Unix epoch was one).
fn week(n: i64) -> i64 {
    n * WEEK
}

fn schema(yaml: &str) -> SchemaConfig {
    SchemaConfig::from_yaml(yaml).unwrap()
}

fn config(retention_days: u64) -> TableManagerConfig {
    let mut config = TableManagerConfig::default();
    config.retention_period.0 = Duration::from_secs(retention_days * 86_400);
    config.index_tables_provisioning.provisioned_read_throughput = 11;
    config.index_tables_provisioning.provisioned_write_throughput = 12;
    config.index_tables_provisioning.inactive_read_throughput = 3;
    config.index_tables_provisioning.inactive_write_throughput = 4;
    config.chunk_tables_provisioning.enable_ondemand_throughput_mode = true;
    config.chunk_tables_provisioning.inactive_read_throughput = 5;
    config.chunk_tables_provisioning.inactive_write_throughput = 6;
    config
}

fn clock_at(config: &TableManagerConfig, now_ms: i64) -> PlanClock {
    let clock = PlanClock::new(config, Duration::from_millis(MAX_CHUNK_AGE as u64), now_ms);
    assert_eq!((clock.grace_ms, clock.max_chunk_age_ms), (GRACE, MAX_CHUNK_AGE));
    clock
}

fn names(tables: &[ExpectedTable]) -> Vec<&str> {
    tables.iter().map(|table| table.desc.name.as_str()).collect()
}

fn find<'a>(tables: &'a [ExpectedTable], name: &str) -> &'a ExpectedTable {
    tables.iter().find(|table| table.desc.name == name).unwrap_or_else(|| panic!("no table {name}"))
}

/// Weekly index tables from 2020-01-02 (the start of epoch week 2609) in redb.
const WEEKLY: &str = "configs: [{from: 2020-01-02, store: boltdb, schema: v11, index: {prefix: index_, period: 1w, tags: {team: a}}}]";

fn expected_at(schema_yaml: &str, config: &TableManagerConfig, now_ms: i64) -> Vec<ExpectedTable> {
    expected_tables(&schema(schema_yaml), config, clock_at(config, now_ms))
}

#[test]
fn tables_from_the_first_period_up_to_now() {
    let config = config(0);
    let now = week(2612) + 3 * MS_PER_DAY;
    let tables = expected_at(WEEKLY, &config, now);
    assert_eq!(names(&tables), ["index_2609", "index_2610", "index_2611", "index_2612"]);
    assert!(tables.iter().all(|t| t.backend == TableBackend::Local && t.kind == TableKind::Index));

    let current = find(&tables, "index_2612");
    assert!(current.active);
    assert_eq!((current.desc.provisioned_read, current.desc.provisioned_write), (11, 12));
    assert_eq!(current.desc.tags.get("team").map(String::as_str), Some("a"));
    let old = find(&tables, "index_2611");
    assert!(!old.active);
    assert_eq!((old.desc.provisioned_read, old.desc.provisioned_write), (3, 4));
    assert!(!old.desc.use_on_demand_mode);
}

#[test]
fn a_period_not_aligned_to_its_table_period_starts_with_the_table_holding_it() {
    // 2020-01-01 is a Wednesday, inside epoch week 2608.
    let yaml = "configs: [{from: 2020-01-01, store: redb, schema: v9, index: {prefix: i_, period: 1w}}]";
    let tables = expected_at(yaml, &config(0), week(2609) + HOUR);
    assert_eq!(names(&tables), ["i_2608", "i_2609"]);
}

#[test]
fn the_next_table_is_created_a_grace_period_before_it_begins() {
    let config = config(0);
    let before_grace = expected_at(WEEKLY, &config, week(2613) - GRACE - 1);
    assert_eq!(names(&before_grace).last(), Some(&"index_2612"));
    let at_grace = expected_at(WEEKLY, &config, week(2613) - GRACE);
    assert_eq!(names(&at_grace).last(), Some(&"index_2613"));
    // Created ahead, it is already active (it is about to receive writes).
    assert!(find(&at_grace, "index_2613").active);
}

#[test]
fn a_table_stays_active_for_max_chunk_age_after_its_end() {
    let config = config(0);
    let tables = expected_at(WEEKLY, &config, week(2613) + MAX_CHUNK_AGE - 1);
    assert!(find(&tables, "index_2612").active);
    let tables = expected_at(WEEKLY, &config, week(2613) + MAX_CHUNK_AGE);
    assert!(!find(&tables, "index_2612").active);
    assert_eq!(find(&tables, "index_2612").desc.provisioned_write, 4);
}

#[test]
fn a_period_in_the_future_has_tables_only_once_inside_the_grace_period() {
    let yaml = "configs:\n\
                - {from: 2020-01-02, store: redb, schema: v9, index: {prefix: a_, period: 1w}}\n\
                - {from: 2020-01-16, store: redb, schema: v11, index: {prefix: b_, period: 1w}}\n";
    let config = config(0);
    let early = expected_at(yaml, &config, week(2611) - GRACE - 1);
    assert_eq!(names(&early), ["a_2609", "a_2610"]);
    let in_grace = expected_at(yaml, &config, week(2611) - GRACE);
    // a_ ends where b_ begins: no a_2611 even though now + grace reaches week 2611.
    assert_eq!(names(&in_grace), ["a_2609", "a_2610", "b_2611"]);
}

#[test]
fn retention_keeps_tables_until_their_whole_range_is_older_than_it() {
    let config = config(14);
    // now - 14d = week 2611 minus 1 ms: table 2610 (ending at week 2611) still holds data
    // younger than the retention.
    let tables = expected_at(WEEKLY, &config, week(2613) - 1);
    assert_eq!(names(&tables), ["index_2610", "index_2611", "index_2612", "index_2613"]);
    // One millisecond later its newest data is exactly 14 days old: it goes.
    let tables = expected_at(WEEKLY, &config, week(2613));
    assert_eq!(names(&tables), ["index_2611", "index_2612", "index_2613"]);
    // Cortex's count: floor(retention / period) + 1 tables kept, plus the one made in grace.
    let tables = expected_at(WEEKLY, &config, week(2613) + HOUR);
    assert_eq!(tables.len(), 14 / 7 + 1);
}

#[test]
fn deletes_expired_tables_of_our_prefixes_only() {
    let config = config(14);
    let schema = schema(WEEKLY);
    let now = week(2613);
    let clock = clock_at(&config, now);
    let expected = expected_tables(&schema, &config, clock);
    let existing: Vec<String> = [
        "index_2600",  // expired: ours
        "index_2610",  // expired exactly now
        "index_2611",  // inside retention
        "index_2613",  // current
        "index_9999",  // far future, not expected: not ours to judge, kept
        "index_",      // the bare prefix: not a periodic name
        "index_02600", // not a name the schema forms
        "index_abc",   // foreign
        "other_2600",  // foreign prefix
        "chunks_2600", // foreign prefix
    ]
    .iter()
    .map(|name| name.to_string())
    .collect();
    let managed = managed_prefixes(&schema);
    let plan = plan_sync(TableBackend::Local, &expected, &existing, &managed, clock);
    assert_eq!(plan.delete, ["index_2600", "index_2610"]);
    assert_eq!(plan.check.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["index_2611", "index_2613"]);
    assert_eq!(plan.create.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["index_2612"]);

    // One millisecond earlier, index_2610 is still within the retention and expected.
    let earlier = clock_at(&config, now - 1);
    let expected = expected_tables(&schema, &config, earlier);
    let plan = plan_sync(TableBackend::Local, &expected, &existing, &managed, earlier);
    assert_eq!(plan.delete, ["index_2600"]);

    // Without retention nothing is ever deleted.
    let no_retention = TableManagerConfig::default();
    let clock = clock_at(&no_retention, now);
    let expected = expected_tables(&schema, &no_retention, clock);
    let plan = plan_sync(TableBackend::Local, &expected, &existing, &managed, clock);
    assert!(plan.delete.is_empty());
    assert!(plan.check.iter().any(|t| t.name == "index_2610"));

    // Another backend's tables are not this backend's business.
    let plan = plan_sync(TableBackend::Aws, &expected, &existing, &managed, clock);
    assert_eq!(plan, SyncPlan::default());
}

const MIXED: &str = "configs:\n\
    - {from: 2020-01-02, store: boltdb, schema: v9, index: {prefix: idx_, period: 1w}}\n\
    - {from: 2020-01-16, store: aws-dynamo, schema: v11, index: {prefix: dyn_idx_, period: 24h, tags: {env: prod}}, chunks: {prefix: dyn_chunks_, period: 72h}}\n\
    - {from: 2020-02-01, store: bigtable, object_store: gcs, schema: v11, index: {prefix: bt_, period: 1w}, chunks: {prefix: unused_, period: 1w}}\n";

#[test]
fn several_periods_with_different_prefixes_periods_and_backends() {
    let config = config(0);
    // 2020-01-20 12:00: inside the aws period. Day 18281 = 2020-01-20.
    let now = 18_281 * MS_PER_DAY + 12 * HOUR;
    let tables = expected_at(MIXED, &config, now);
    let local: Vec<&str> =
        tables.iter().filter(|t| t.backend == TableBackend::Local).map(|t| t.desc.name.as_str()).collect();
    assert_eq!(local, ["idx_2609", "idx_2610"]);
    let aws_index: Vec<&str> = tables
        .iter()
        .filter(|t| t.backend == TableBackend::Aws && t.kind == TableKind::Index)
        .map(|t| t.desc.name.as_str())
        .collect();
    // 2020-01-16 is day 18277; up to day 18281 (now + grace is still the same day).
    assert_eq!(
        aws_index,
        ["dyn_idx_18277", "dyn_idx_18278", "dyn_idx_18279", "dyn_idx_18280", "dyn_idx_18281"]
    );
    let aws_chunks: Vec<&ExpectedTable> =
        tables.iter().filter(|t| t.backend == TableBackend::Aws && t.kind == TableKind::Chunk).collect();
    // 72h tables: 18277 / 3 = 6092 (days 18276..18278), 6093 (18279..18281).
    assert_eq!(
        aws_chunks.iter().map(|t| t.desc.name.as_str()).collect::<Vec<_>>(),
        ["dyn_chunks_6092", "dyn_chunks_6093"]
    );
    // Chunk tables are on-demand while active, provisioned 5/6 once inactive.
    let current_chunks = aws_chunks[1];
    assert!(current_chunks.active && current_chunks.desc.use_on_demand_mode);
    let old_chunks = aws_chunks[0];
    assert!(!old_chunks.active && !old_chunks.desc.use_on_demand_mode);
    assert_eq!((old_chunks.desc.provisioned_read, old_chunks.desc.provisioned_write), (5, 6));
    assert_eq!(find(&tables, "dyn_idx_18281").desc.tags.get("env").map(String::as_str), Some("prod"));
    // The bigtable period has not begun; its chunks live in GCS, so it never has chunk tables.
    assert!(tables.iter().all(|t| t.backend != TableBackend::Gcp));
    let later = expected_at(MIXED, &config, 18_300 * MS_PER_DAY);
    assert!(later.iter().any(|t| t.desc.name == "bt_2614"));
    assert!(later.iter().all(|t| !t.desc.name.starts_with("unused_")));

    let backends: Vec<TableBackend> = backends_in(&schema(MIXED)).into_iter().collect();
    assert_eq!(backends, [TableBackend::Local, TableBackend::Aws, TableBackend::Gcp]);
    let managed = managed_prefixes(&schema(MIXED));
    let prefixes: Vec<&str> = managed.iter().map(|m| m.prefix.as_str()).collect();
    assert_eq!(prefixes, ["idx_", "dyn_chunks_", "dyn_idx_", "bt_"]);
}

#[test]
fn retention_per_backend_with_different_periods() {
    // 21 days: a multiple of 1w, 24h and 72h.
    let config = config(21);
    let schema = schema(MIXED);
    let now = 18_300 * MS_PER_DAY; // 2020-02-08, cutoff 2020-01-18 = day 18279
    let clock = clock_at(&config, now);
    let expected = expected_tables(&schema, &config, clock);
    let managed = managed_prefixes(&schema);
    let existing: Vec<String> =
        ["dyn_idx_18277", "dyn_idx_18278", "dyn_idx_18279", "dyn_chunks_6092", "dyn_chunks_6093", "idx_2610"]
            .iter()
            .map(|n| n.to_string())
            .collect();
    let aws = plan_sync(TableBackend::Aws, &expected, &existing, &managed, clock);
    // Day tables end at 18278 and 18279 <= cutoff; chunk table 6092 ends at day 18279.
    assert_eq!(aws.delete, ["dyn_chunks_6092", "dyn_idx_18277", "dyn_idx_18278"]);
    assert!(aws.check.iter().any(|t| t.name == "dyn_idx_18279"));
    let local = plan_sync(TableBackend::Local, &expected, &existing, &managed, clock);
    // idx_2610 ends at week 2611 = day 18277 <= day 18279: expired.
    assert_eq!(local.delete, ["idx_2610"]);
}

#[test]
fn a_name_two_families_could_own_is_deleted_only_when_expired_under_both() {
    // The same prefix, weekly then daily: "x_2700" is week 2700 (2021-10) or day 2700 (1977).
    let yaml = "configs:\n\
                - {from: 2020-01-02, store: redb, schema: v9, index: {prefix: x_, period: 1w}}\n\
                - {from: 2020-06-04, store: redb, schema: v11, index: {prefix: x_, period: 24h}}\n";
    let schema = schema(yaml);
    let config = config(28);
    let now = week(2650);
    let clock = clock_at(&config, now);
    let managed = managed_prefixes(&schema);
    assert_eq!(managed.len(), 2);
    let existing = vec!["x_2700".to_string(), "x_100".to_string()];
    let plan = plan_sync(TableBackend::Local, &[], &existing, &managed, clock);
    assert_eq!(plan.delete, ["x_100"]);
}

#[test]
fn a_non_periodic_table_is_one_table_active_until_its_period_ends() {
    let yaml = "configs:\n\
                - {from: 2020-01-02, store: redb, schema: v9, index: {prefix: single}}\n\
                - {from: 2020-01-16, store: redb, schema: v9, index: {prefix: single}}\n\
                - {from: 2020-02-01, store: redb, schema: v11, index: {prefix: w_, period: 1w}}\n";
    let config = config(7);
    let feb1 = 18_293 * MS_PER_DAY;
    let tables = expected_at(yaml, &config, feb1 - HOUR);
    assert_eq!(names(&tables), ["single"]);
    assert!(tables[0].active);
    let tables = expected_at(yaml, &config, feb1 + MAX_CHUNK_AGE);
    assert!(!find(&tables, "single").active);
    // Retention never deletes it: it is not a periodic name.
    let schema = schema(yaml);
    let clock = clock_at(&config, feb1 + 100 * WEEK);
    let plan = plan_sync(
        TableBackend::Local,
        &expected_tables(&schema, &config, clock),
        &["single".to_string()],
        &managed_prefixes(&schema),
        clock,
    );
    assert!(plan.delete.is_empty() && plan.check.iter().any(|t| t.name == "single"));
}

#[test]
fn updates_only_when_mode_capacity_or_tags_differ() {
    let expected = TableDesc {
        name: "t".into(),
        use_on_demand_mode: false,
        provisioned_read: 300,
        provisioned_write: 1000,
        tags: [("team".to_string(), "a".to_string())].into(),
    };
    assert!(!needs_update(&expected.clone(), &expected));
    assert!(needs_update(&TableDesc { provisioned_write: 1, ..expected.clone() }, &expected));
    assert!(needs_update(&TableDesc { provisioned_read: 1, ..expected.clone() }, &expected));
    assert!(needs_update(&TableDesc { tags: Default::default(), ..expected.clone() }, &expected));
    assert!(needs_update(&TableDesc { use_on_demand_mode: true, ..expected.clone() }, &expected));
    let on_demand = TableDesc { use_on_demand_mode: true, ..expected.clone() };
    // On-demand tables have no provisioned capacity to compare.
    assert!(!needs_update(
        &TableDesc { provisioned_read: 0, provisioned_write: 0, ..on_demand.clone() },
        &on_demand
    ));
}
