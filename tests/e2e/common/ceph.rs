//! The Ceph test cluster (`deploy/ceph/dev-cluster.sh start`) for the RADOS tests.

use std::path::PathBuf;

/// The test cluster's ceph.conf: `IDAUTH_CEPH_CONF`, else the dev cluster's default
/// place. `None` (with the reason printed) where there is none, unless CI=true: there
/// a missing cluster fails the test.
pub fn ceph_conf() -> Option<PathBuf> {
    let conf = std::env::var_os("IDAUTH_CEPH_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/idauth-ceph/ceph.conf"));
    if conf.exists() {
        return Some(conf);
    }
    let reason = format!(
        "no Ceph test cluster ({} is missing): start one with deploy/ceph/dev-cluster.sh start",
        conf.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

/// A namespace no other run uses, so runs never see each other's residents.
pub fn fresh_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e-{}-{nanos}", std::process::id())
}
