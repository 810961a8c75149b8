//! Locating `../shared/data` from a test, skipping with a printed reason when absent.

use std::path::PathBuf;

/// The shared data folder, or `None` (with a note on stderr) when this checkout has none.
pub fn shared_data(what: &str) -> Option<PathBuf> {
    let root = std::env::var_os("IDAUTH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = root.join(what);
    if path.exists() {
        Some(path)
    } else {
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
