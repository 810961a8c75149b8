//! Receipts: an Ed25519 signature by the gateway over a verify response's fields, so
//! that an agency can prove offline, to an auditor or in a dispute, what the service
//! answered. The signed bytes are a fixed label followed by each field, length-prefixed:
//! txn, decision, reference, token, timestamp (seconds, nanos), error code (0 = none),
//! and each factor with its result.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use idauth_proto::v1;

const LABEL: &[u8] = b"idauth verify receipt v1\0";

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a verify receipt signs.
pub fn signed_bytes(response: &v1::VerifyResponse) -> Vec<u8> {
    let v1::VerifyResponse {
        txn,
        decision,
        reference,
        factors,
        error,
        timestamp,
        token,
        receipt: _,
    } = response;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(LABEL);
    put(&mut out, txn.as_bytes());
    out.extend_from_slice(&decision.to_le_bytes());
    put(&mut out, reference.as_bytes());
    put(&mut out, token.as_bytes());
    let (seconds, nanos) = timestamp.map_or((0, 0), |t| (t.seconds, t.nanos));
    out.extend_from_slice(&seconds.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
    out.extend_from_slice(&error.as_ref().map_or(0, |e| e.code).to_le_bytes());
    out.extend_from_slice(&(factors.len() as u64).to_le_bytes());
    for factor in factors {
        out.extend_from_slice(&factor.factor.to_le_bytes());
        out.push(u8::from(factor.matched));
    }
    out
}

/// The bytes a write receipt (enrolment, update, lock) signs: a fixed label, then
/// request id, reference, version, replayed and token.
pub fn signed_write_bytes(
    request_id: &str,
    reference: &str,
    version: u64,
    replayed: bool,
    token: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"idauth write receipt v1\0");
    put(&mut out, request_id.as_bytes());
    put(&mut out, reference.as_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.push(u8::from(replayed));
    put(&mut out, token.as_bytes());
    out
}

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
        response.receipt = self.key.sign(&signed_bytes(response)).to_bytes().to_vec();
    }

    /// Sets the receipt of an enrolment response.
    pub fn sign_enrol(&self, response: &mut v1::EnrolResponse) {
        let v1::EnrolResponse {
            request_id,
            reference,
            version,
            replayed,
            token,
            receipt: _,
        } = &*response;
        let bytes = signed_write_bytes(request_id, reference, *version, *replayed, token);
        response.receipt = self.key.sign(&bytes).to_bytes().to_vec();
    }

    /// Sets the receipt of an update, deactivation or lock response.
    pub fn sign_update(&self, response: &mut v1::UpdateResponse) {
        let v1::UpdateResponse {
            request_id,
            reference,
            version,
            replayed,
            token,
            receipt: _,
        } = &*response;
        let bytes = signed_write_bytes(request_id, reference, *version, *replayed, token);
        response.receipt = self.key.sign(&bytes).to_bytes().to_vec();
    }
}

/// Whether an enrolment response's receipt is a valid signature by `public_key`.
pub fn check_enrol(public_key: &[u8], response: &v1::EnrolResponse) -> bool {
    let bytes = signed_write_bytes(
        &response.request_id,
        &response.reference,
        response.version,
        response.replayed,
        &response.token,
    );
    check_bytes(public_key, &bytes, &response.receipt)
}

fn check_bytes(public_key: &[u8], bytes: &[u8], receipt: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(public_key) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(receipt) else {
        return false;
    };
    key.verify(bytes, &signature).is_ok()
}

/// Whether `response.receipt` is a valid signature by `public_key` over its fields.
pub fn check(public_key: &[u8], response: &v1::VerifyResponse) -> bool {
    check_bytes(public_key, &signed_bytes(response), &response.receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(check(&signer.public_key(), &response));
        let mut changed = response.clone();
        changed.decision = v1::Decision::NoMatch.into();
        assert!(!check(&signer.public_key(), &changed));
        let mut changed = response.clone();
        changed.factors[0].matched = false;
        assert!(!check(&signer.public_key(), &changed));
        let other = ReceiptSigner::from_seed(&[5; 32]);
        assert!(!check(&other.public_key(), &response));
    }

    #[test]
    fn enrolment_receipts_check_and_break_on_change() {
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
        assert!(check_enrol(&signer.public_key(), &response));
        response.version = 2;
        assert!(!check_enrol(&signer.public_key(), &response));
    }
}
