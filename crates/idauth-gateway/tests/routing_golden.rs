//! Golden routing vectors: storage keys and owning shards for fixed secrets, ids and
//! shard maps (`testdata/routing-golden.json`). A change that moves residents between
//! shards, or changes their storage keys, fails here: such a change needs a migration,
//! not a silent rebuild. `IDAUTH_WRITE_GOLDEN=1` rewrites the file (review the diff).

use idauth_core::{IdentifierType, ResidentId};
use idauth_gateway::{Router, StorageKeySecret};
use serde_json::{Value, json};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/routing-golden.json"
);

fn vectors() -> Value {
    let secrets = [
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff",
    ];
    let maps: [Vec<String>; 3] = [
        (0..4).map(|i| format!("shard-{i}")).collect(),
        (0..5).map(|i| format!("shard-{i}")).collect(),
        vec!["mumbai-a".into(), "delhi-b".into(), "chennai-c".into()],
    ];
    let ids = [
        (IdentifierType::NationalId, "123456789012"),
        (IdentifierType::NationalId, "999999990019"),
        (IdentifierType::VirtualId, "9182736450192837"),
        (IdentifierType::NationalId, "DB1-B-101"),
        (IdentifierType::VirtualId, "123456789012"),
        (IdentifierType::NationalId, "a"),
    ];
    let mut out = Vec::new();
    for secret_hex in secrets {
        let secret = StorageKeySecret::from_hex(secret_hex).unwrap();
        for shards in &maps {
            let router = Router::new(shards.clone());
            for (kind, value) in ids {
                let id = ResidentId::new(kind, value).unwrap();
                let key = secret.storage_key(&id);
                out.push(json!({
                    "secret": secret_hex,
                    "type": kind.tag(),
                    "id": value,
                    "shards": shards,
                    "storage_key": hex(&key.0),
                    "owner": shards[router.owner(&key)],
                }));
            }
        }
    }
    Value::Array(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn routing_matches_the_golden_vectors() {
    let computed = vectors();
    if std::env::var_os("IDAUTH_WRITE_GOLDEN").is_some() {
        std::fs::write(
            GOLDEN,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    let (golden, computed) = (golden.as_array().unwrap(), computed.as_array().unwrap());
    assert_eq!(golden.len(), computed.len());
    for (expected, got) in golden.iter().zip(computed) {
        assert_eq!(expected, got);
    }
}
