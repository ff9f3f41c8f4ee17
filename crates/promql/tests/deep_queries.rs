//! Pathological queries must fail cleanly (or evaluate) without exhausting a worker thread's stack.

use neocortex_promql::test_storage::TestStorage;
use neocortex_promql::Engine;

fn run_on_small_stack(query: String) -> Result<(), String> {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let storage = TestStorage::new();
            let engine = Engine::default();
            futures::executor::block_on(engine.instant_query(&storage, &query, 0))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow")
}

#[test]
fn long_operator_chains_and_deep_nesting_are_safe() {
    // Debug builds use far larger stack frames than release builds (where a 1000-operator
    // chain fits in 2 MiB), so the accepted cases here stay well inside the limits.
    let chain = vec!["1"; 300].join(" + ");
    assert_eq!(run_on_small_stack(chain), Ok(()));
    let power = vec!["1"; 300].join(" ^ ");
    assert_eq!(run_on_small_stack(power), Ok(()));
    let nested = format!("{}1{}", "(".repeat(128), ")".repeat(128));
    assert_eq!(run_on_small_stack(nested), Ok(()));
    let calls = format!("{}vector(1){}", "abs(".repeat(64), ")".repeat(64));
    assert_eq!(run_on_small_stack(calls), Ok(()));
    let subqueries = format!("{}vector(1){}", "max_over_time((".repeat(30), ")[1m:])".repeat(30));
    assert_eq!(run_on_small_stack(subqueries), Ok(()));
    let too_deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(run_on_small_stack(too_deep).is_err_and(|e| e.contains("too deep")));
    let too_long = vec!["x"; 100_000].join(" or ");
    assert!(run_on_small_stack(too_long).is_err_and(|e| e.contains("too many")));
    let unary = format!("{}1", "-".repeat(100_000));
    assert!(run_on_small_stack(unary).is_err());
    // A subquery with billions of steps is refused before anything is allocated.
    let huge = "sum_over_time(vector(1)[10y:1ms])".to_string();
    assert!(run_on_small_stack(huge).is_err_and(|e| e.contains("too many samples")));
    let extreme = "x @ -9223372036854770 offset 1y + rate(y[5m] @ 9223372036854770 offset -1y)".to_string();
    assert_eq!(run_on_small_stack(extreme), Ok(()));
}
