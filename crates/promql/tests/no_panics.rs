//! Malformed and odd queries must produce errors or results, never panics.

use neocortex_core::{stale_nan, Labels, Sample};
use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::{parse, Engine};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "x",
    "y{a=\"1\"}",
    "{__name__=~\"x|y\"}",
    "[5m]",
    "[1m:]",
    "[30s:10s]",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    " + ",
    " - ",
    " * ",
    " / ",
    " % ",
    " ^ ",
    " == ",
    " != ",
    " > bool ",
    " and ",
    " or ",
    " unless ",
    " atan2 ",
    " on(a) ",
    " ignoring(a) ",
    " group_left(b) ",
    " group_right ",
    "sum",
    "topk(2, ",
    "quantile(0.5, ",
    "count_values(\"v\", ",
    " by (a) ",
    " without (a) ",
    "rate(",
    "holt_winters(",
    "label_replace(",
    "histogram_quantile(0.9, ",
    "abs(",
    "absent(",
    "absent_over_time(",
    "scalar(",
    "vector(",
    "time()",
    "sort(",
    " offset 5m",
    " offset -1m",
    " @ 10",
    " @ start()",
    "1",
    "-2.5",
    "0x1f",
    "Inf",
    "NaN",
    "\"s\"",
    "`raw`",
    "'q'",
    "1e308",
    ", 0.3, 0.5)",
    "@",
    "!",
    "#",
];

fn storage() -> TestStorage {
    let storage = TestStorage::new();
    for (name, a, step) in [("x", "1", 1.0), ("x", "2", 2.0), ("y", "1", -1.0)] {
        let samples = (0..40).map(|i| Sample {
            timestamp_ms: i * 15_000,
            value: if i == 20 { stale_nan() } else { i as f64 * step },
        });
        storage.add(Labels::from_pairs([("__name__", name), ("a", a), ("le", "0.5")]), samples);
    }
    storage
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn random_fragment_soup_never_panics(parts in proptest::collection::vec(0..FRAGMENTS.len(), 1..12)) {
        let query: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        if let Ok(expr) = parse(&query) {
            let storage = storage();
            let engine = Engine::default();
            let _ = futures::executor::block_on(engine.instant_query_expr(&storage, &expr, 300_000));
            let _ = futures::executor::block_on(engine.range_query_expr(&storage, &expr, 0, 600_000, 45_000));
            // Printing and re-parsing a valid expression must succeed too.
            prop_assert!(parse(&expr.to_string()).is_ok(), "{} printed as {}", query, expr);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,60}") {
        let _ = parse(&text);
    }
}
