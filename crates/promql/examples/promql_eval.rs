//! Evaluates queries over series loaded from a TSV file and prints Prometheus API `data` JSON,
//! one line per query; used to compare the engine against a real Prometheus.
//!
//! Usage: `promql_eval <data.tsv> <queries.tsv>`
//! - data lines: `metric<TAB>a="b",c="d"<TAB>timestamp_ms<TAB>value`
//! - query lines: `instant<TAB>time_s<TAB>query` or `range<TAB>start_s<TAB>end_s<TAB>step_s<TAB>query`

use std::collections::BTreeMap;

use neocortex_core::{Labels, Sample};
use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::{Engine, EngineOptions};

fn parse_labels(name: &str, text: &str) -> Labels {
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        if let Some((k, v)) = pair.split_once('=') {
            pairs.push((k.to_string(), v.trim_matches('"').to_string()));
        }
    }
    Labels::from_pairs(pairs)
}

fn seconds_to_ms(text: &str) -> i64 {
    (text.parse::<f64>().unwrap_or(0.0) * 1000.0).round() as i64
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: promql_eval <data.tsv> <queries.tsv>");
    let mut series: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for line in std::fs::read_to_string(&args[1])?.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 4 {
            continue;
        }
        let value = if fields[3] == "NaN" { f64::NAN } else { fields[3].parse()? };
        series
            .entry(parse_labels(fields[0], fields[1]))
            .or_default()
            .push(Sample { timestamp_ms: fields[2].parse()?, value });
    }
    let storage = TestStorage::new();
    for (labels, samples) in series {
        storage.add(labels, samples);
    }
    let engine = Engine::new(EngineOptions::default());
    for line in std::fs::read_to_string(&args[2])?.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let result = match fields.as_slice() {
            ["instant", time, query] => {
                futures::executor::block_on(engine.instant_query(&storage, query, seconds_to_ms(time)))
            }
            ["range", start, end, step, query] => futures::executor::block_on(engine.range_query(
                &storage,
                query,
                seconds_to_ms(start),
                seconds_to_ms(end),
                seconds_to_ms(step),
            )),
            _ => continue,
        };
        match result {
            Ok(value) => println!("{}", value.to_json()),
            Err(err) => println!("ERROR {}: {err}", err.code().prometheus_error_type()),
        }
    }
    Ok(())
}
