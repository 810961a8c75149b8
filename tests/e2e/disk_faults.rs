//! Faults of the disk under `idauth serve`: a resident record corrupted on disk is
//! refused for that resident alone with 704 RECORD_UNDECRYPTABLE (never decoded into
//! something else), while every other resident is still served.

use idauth_core::ErrorCode;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;

use crate::common::service::{connect, fresh_txn, now, scratch, serve_over, walkthrough_finger};

fn resident(n: usize) -> Option<v1::Identifier> {
    let id = idauth_core::ResidentId::new(
        idauth_core::IdentifierType::NationalId,
        &format!("disk-{n}"),
    )
    .unwrap();
    Some(idauth_proto::convert::resident_id_to_wire(&id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_record_is_refused_alone_and_the_rest_are_served() {
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let server = serve_over(dir.path(), &data, &secrets, &[]);
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();
    let mut enrolment = v1::enrolment_client::EnrolmentClient::new(connect(&url, &key).await);
    const RESIDENTS: usize = 12;
    for n in 0..RESIDENTS {
        enrolment
            .enrol(v1::EnrolRequest {
                context: Some(v1::EnrolmentContext {
                    centre_id: "c".into(),
                    request_id: format!("disk-{n}"),
                    timestamp: Some(now()),
                    consent: true,
                }),
                resident: resident(n),
                fingers: vec![walkthrough_finger("asha-1.iso")],
                demographics: Some(v1::Demographics {
                    name: format!("Disk {n}"),
                    ..v1::Demographics::default()
                }),
                envelope: None,
            })
            .await
            .unwrap();
    }
    drop(enrolment);
    drop(server);

    // One bit of every record in one shard's tree flipped, as a bad sector would.
    let db = sled::open(data.join("shards")).unwrap();
    let tree_name = db
        .tree_names()
        .into_iter()
        .find(|name| name.ends_with(b"residents") && !db.open_tree(name).unwrap().is_empty())
        .expect("a shard holds records");
    let tree = db.open_tree(&tree_name).unwrap();
    let mut corrupted = 0;
    for entry in tree.iter() {
        let (k, v) = entry.unwrap();
        let mut bytes = v.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        tree.insert(k, bytes).unwrap();
        corrupted += 1;
    }
    db.flush().unwrap();
    drop(tree);
    drop(db);

    let server = serve_over(dir.path(), &data, &secrets, &[]);
    let url = format!("http://{}", server.addr);
    let mut auth = AuthClient::new(connect(&url, &key).await);
    let (mut served, mut refused) = (0, 0);
    for n in 0..RESIDENTS {
        let answer = auth
            .verify(v1::VerifyRequest {
                txn: fresh_txn(),
                timestamp: Some(now()),
                consent: true,
                resident: resident(n),
                fingers: vec![walkthrough_finger("asha-2.iso")],
                demographics: None,
                device_id: "disk".into(),
                envelope: None,
            })
            .await;
        match answer {
            Ok(answer) => {
                assert_eq!(answer.into_inner().decision, v1::Decision::Match as i32);
                served += 1;
            }
            Err(status) => {
                assert_eq!(
                    from_status(&status),
                    ErrorCode::RecordUndecryptable,
                    "{status:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, corrupted,
        "exactly the corrupted records are refused"
    );
    assert!(served > 0, "the other shards' residents are still served");
    eprintln!(
        "disk faults: {corrupted} records corrupted on disk, {refused} refused with RECORD_UNDECRYPTABLE, {served} served"
    );
}
