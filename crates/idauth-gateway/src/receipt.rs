//! Signing receipts with the gateway's Ed25519 key. What a receipt signs is defined
//! once, in [`idauth_client::receipt`], where agencies check it.

use ed25519_dalek::{Signer, SigningKey};
use idauth_client::receipt::{verify_bytes, write_bytes};
use idauth_proto::v1;

/// Signs receipts with the gateway's key.
pub struct ReceiptSigner {
    key: SigningKey,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptSigner(<redacted>)")
    }
}

impl ReceiptSigner {
    /// A signer from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key agencies check receipts with.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Sets `response.receipt`.
    pub fn sign(&self, response: &mut v1::VerifyResponse) {
        response.receipt = self.key.sign(&verify_bytes(response)).to_bytes().to_vec();
    }

    /// Sets the receipt of an enrolment response.
    pub fn sign_enrol(&self, response: &mut v1::EnrolResponse) {
        let signature = self.key.sign(&write_bytes((&*response).into()));
        response.receipt = signature.to_bytes().to_vec();
    }

    /// Sets the receipt of an update, deactivation or lock response.
    pub fn sign_update(&self, response: &mut v1::UpdateResponse) {
        let signature = self.key.sign(&write_bytes((&*response).into()));
        response.receipt = signature.to_bytes().to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_client::{EnvelopeKey, ServiceKeys};

    fn keys(signer: &ReceiptSigner) -> ServiceKeys {
        ServiceKeys {
            envelope: EnvelopeKey {
                key_id: 1,
                public: x25519_dalek::PublicKey::from([9; 32]),
            },
            receipt_key: signer.public_key().to_vec(),
        }
    }

    #[test]
    fn a_receipt_checks_and_any_changed_field_breaks_it() {
        let signer = ReceiptSigner::from_seed(&[4; 32]);
        let mut response = v1::VerifyResponse {
            txn: "t-1".into(),
            decision: v1::Decision::Match.into(),
            reference: "shard-0-ab".into(),
            factors: vec![v1::FactorResult {
                factor: v1::Factor::Fingerprint.into(),
                matched: true,
            }],
            error: None,
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 1,
            }),
            token: "tok".into(),
            receipt: Vec::new(),
        };
        signer.sign(&mut response);
        assert!(keys(&signer).verify_receipt(&response));
        let mut changed = response.clone();
        changed.decision = v1::Decision::NoMatch.into();
        assert!(!keys(&signer).verify_receipt(&changed));
        let mut changed = response.clone();
        changed.factors[0].matched = false;
        assert!(!keys(&signer).verify_receipt(&changed));
        let other = ReceiptSigner::from_seed(&[5; 32]);
        assert!(!keys(&other).verify_receipt(&response));
    }

    #[test]
    fn write_receipts_check_and_break_on_change() {
        let signer = ReceiptSigner::from_seed(&[6; 32]);
        let mut response = v1::EnrolResponse {
            request_id: "r-1".into(),
            reference: "shard-1-cd".into(),
            version: 1,
            replayed: false,
            token: "tok".into(),
            receipt: Vec::new(),
        };
        signer.sign_enrol(&mut response);
        assert!(keys(&signer).enrol_receipt(&response));
        response.version = 2;
        assert!(!keys(&signer).enrol_receipt(&response));
        let mut update = v1::UpdateResponse {
            request_id: "r-2".into(),
            reference: "shard-1-ef".into(),
            version: 3,
            replayed: true,
            token: "tok".into(),
            receipt: Vec::new(),
        };
        signer.sign_update(&mut update);
        assert!(keys(&signer).update_receipt(&update));
        update.replayed = false;
        assert!(!keys(&signer).update_receipt(&update));
    }
}
