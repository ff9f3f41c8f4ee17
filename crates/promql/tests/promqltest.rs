//! Runs every file of Prometheus's PromQL conformance corpus (v2.42 `promql/testdata`) through
//! the engine. The corpus lives outside the repository: `NEOCORTEX_PROMQL_TESTDATA` or
//! `../shared/promql-testdata` next to the workspace. In CI (`CI=true`) a missing corpus fails.

use std::path::PathBuf;

use neocortex_promql::promqltest::{run_script, test_engine_options};

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NEOCORTEX_PROMQL_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/promql-testdata"),
    };
    dir.is_dir().then_some(dir)
}

#[test]
fn prometheus_promql_corpus() {
    let Some(dir) = corpus_dir() else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!in_ci, "promql corpus not found; set NEOCORTEX_PROMQL_TESTDATA");
        eprintln!("skipping: promql corpus not found (set NEOCORTEX_PROMQL_TESTDATA)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let mut total_failures = 0;
    let (mut total_evals, mut total_queries) = (0, 0);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read test file");
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let report = futures::executor::block_on(run_script(&text, test_engine_options()))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        println!(
            "{name}: {} evals, {} queries, {} passed, {} failed",
            report.evals,
            report.queries,
            report.evals - report.failures.len(),
            report.failures.len()
        );
        for failure in &report.failures {
            println!("  FAIL {name}:{} {}\n       {}", failure.line, failure.query, failure.message);
        }
        total_evals += report.evals;
        total_queries += report.queries;
        total_failures += report.failures.len();
    }
    println!(
        "total: {} files, {total_evals} evals, {total_queries} queries, {total_failures} failed",
        files.len()
    );
    assert_eq!(total_failures, 0, "{total_failures} promql corpus evals failed (see output above)");
}
