//! Locating `../shared/data` from a test, skipping with a printed reason when absent
//! on a developer's machine; in CI (`CI=true`) a missing folder fails the test.

use std::path::PathBuf;

/// The shared data folder, or `None` (with a note on stderr) when this checkout has none.
///
/// # Panics
/// In CI (`CI=true`), when the folder is missing: there the data must be present.
pub fn shared_data(what: &str) -> Option<PathBuf> {
    let root = std::env::var_os("IDAUTH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = root.join(what);
    if path.exists() {
        Some(path)
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} not found, and CI=true: CI must run the tests that need the shared data",
            path.display()
        );
        // Written to the real stderr, not through `eprintln!`, which the test harness
        // captures: the reason for a skip must show in a plain `cargo test` run.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {} not found (set IDAUTH_SHARED_DATA to the shared data folder)",
            path.display()
        );
        None
    }
}
