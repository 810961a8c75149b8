//! Encryption at rest: after enrolments through the API, the raw files of every shard
//! hold none of the residents' identifiers, names or template bytes.

use std::path::{Path, PathBuf};

use crate::common::service::{loopback_cluster, now, scratch};
use idauth_core::{IdentifierType, ResidentId};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::v1;
use idauth_proto::v1::enrolment_client::EnrolmentClient;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_files_hold_no_identifier_name_or_template() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let mut enrolment = EnrolmentClient::new(cluster.connect().await);
    let fingers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fingers");
    let residents = [
        ("738291046523", "Zorawar Quixbeth", "asha-1.iso"),
        ("519283746501", "Yamuna Vexilworth", "bala-1.iso"),
        ("662019384756", "Xavier Plimsoll", "asha-2.iso"),
        ("447382910564", "Wanjiru Ockendale", "bala-2.iso"),
    ];
    let mut templates = Vec::new();
    for (i, (id, name, file)) in residents.iter().enumerate() {
        let template = std::fs::read(fingers.join(file)).unwrap();
        templates.push(template.clone());
        enrolment
            .enrol(v1::EnrolRequest {
                context: Some(v1::EnrolmentContext {
                    centre_id: "c".into(),
                    request_id: format!("r{i}"),
                    timestamp: Some(now()),
                    consent: true,
                }),
                resident: Some(resident_id_to_wire(
                    &ResidentId::new(IdentifierType::NationalId, id).unwrap(),
                )),
                fingers: vec![v1::Finger {
                    position: 2,
                    format: v1::TemplateFormat::Iso1979422005.into(),
                    template,
                }],
                demographics: Some(v1::Demographics {
                    name: (*name).into(),
                    date_of_birth: "1979-11-30".into(),
                    ..v1::Demographics::default()
                }),
                envelope: None,
            })
            .await
            .unwrap();
    }
    drop(enrolment);
    drop(cluster);

    let mut files = Vec::new();
    for shard in 0..4 {
        files_under(&dir.path().join(format!("shard-{shard}")), &mut files);
    }
    let mut raw = Vec::new();
    for file in &files {
        raw.extend(std::fs::read(file).unwrap());
    }
    // The scan reads real store files: sled keeps tree names in clear.
    assert!(
        contains(&raw, b"residents"),
        "scanned {} files, {} bytes",
        files.len(),
        raw.len()
    );
    for (id, name, _) in residents {
        assert!(!contains(&raw, id.as_bytes()), "identifier {id} on disk");
        assert!(!contains(&raw, name.as_bytes()), "name {name} on disk");
        let surname = name.split(' ').nth(1).unwrap();
        assert!(
            !contains(&raw, surname.as_bytes()),
            "surname {surname} on disk"
        );
    }
    assert!(!contains(&raw, b"1979-11-30"), "date of birth on disk");
    for template in &templates {
        // Skip the 28-byte record and view header, common to every ISO record.
        for window in template[28..].chunks(12).filter(|w| w.len() == 12) {
            assert!(!contains(&raw, window), "template bytes on disk");
        }
    }
}
