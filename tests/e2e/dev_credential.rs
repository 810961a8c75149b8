//! The development credential `idauth serve` keeps in the secrets directory follows the
//! operator to a new data directory: a fresh or emptied data directory registers the
//! key it finds, instead of locking every client command out with CREDENTIAL_UNKNOWN.

use std::path::Path;

use crate::common::service::{idauth, scratch, serve_over};

fn serve(dir: &Path, data: &Path, secrets: &Path) -> crate::common::service::Running {
    serve_over(dir, data, secrets, &[])
}

fn enrol(url: &str, key_file: &Path, id: &str) -> (bool, String) {
    let finger = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fingers/asha-1.iso");
    let output = idauth()
        .args(["enrol", "--id", id, "--name", "Asha"])
        .args(["--finger", &format!("2={}", finger.display())])
        .args([
            "--server",
            url,
            "--api-key-file",
            key_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn a_fresh_data_directory_registers_the_kept_development_key() {
    let dir = scratch();
    let secrets = dir.path().join("secrets");
    let key_file = secrets.join("dev-credential.key");

    let first = serve(dir.path(), &dir.path().join("data-1"), &secrets);
    let (ok, text) = enrol(&format!("http://{}", first.addr), &key_file, "7001");
    assert!(ok, "{text}");
    drop(first);
    let key = std::fs::read_to_string(&key_file).unwrap();

    // A new data directory, the same secrets: the same key works there.
    let second = serve(dir.path(), &dir.path().join("data-2"), &secrets);
    let (ok, text) = enrol(&format!("http://{}", second.addr), &key_file, "7002");
    assert!(
        ok,
        "the kept key was refused by a fresh data directory: {text}"
    );
    drop(second);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key,
        "the key file was replaced"
    );

    // Revoked there on purpose, it stays revoked across restarts.
    let output = idauth()
        .args(["keys", "revoke", "--caller", "dev-1"])
        .args(["--data-dir", dir.path().join("data-2").to_str().unwrap()])
        .args(["--secrets-dir", secrets.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let third = serve(dir.path(), &dir.path().join("data-2"), &secrets);
    let (ok, text) = enrol(&format!("http://{}", third.addr), &key_file, "7003");
    assert!(!ok && text.contains("CREDENTIAL_REVOKED"), "{text}");
}
