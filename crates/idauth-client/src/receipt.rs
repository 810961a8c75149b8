//! Receipts: the gateway's Ed25519 signature over an answer's fields, so that an agency
//! can prove offline, to an auditor or in a dispute, what the service answered.
//!
//! A verify receipt signs a fixed label followed by each field, length-prefixed: txn,
//! decision, reference, token, timestamp (seconds, nanos), error code (0 = none), and
//! each factor with its result. A write receipt (enrolment, update, deactivation, lock)
//! signs another label, then request id, reference, version, replayed and token.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use idauth_proto::v1;

const VERIFY_LABEL: &[u8] = b"idauth verify receipt v1\0";
const WRITE_LABEL: &[u8] = b"idauth write receipt v1\0";

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a verify receipt signs.
pub fn verify_bytes(response: &v1::VerifyResponse) -> Vec<u8> {
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
    out.extend_from_slice(VERIFY_LABEL);
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

/// What a write answer (enrolment, update, deactivation, lock) says, as its receipt
/// signs it.
#[derive(Debug, Clone, Copy)]
pub struct WriteAnswer<'a> {
    /// The centre's request id.
    pub request_id: &'a str,
    /// The audit reference.
    pub reference: &'a str,
    /// The record's version after the write.
    pub version: u64,
    /// Whether the answer replays an earlier one.
    pub replayed: bool,
    /// The caller's token for the resident.
    pub token: &'a str,
}

macro_rules! write_answer {
    ($($response:path),*) => {
        $(impl<'a> From<&'a $response> for WriteAnswer<'a> {
            fn from(response: &'a $response) -> Self {
                let $response {
                    request_id,
                    reference,
                    version,
                    replayed,
                    token,
                    receipt: _,
                } = response;
                Self {
                    request_id,
                    reference,
                    version: *version,
                    replayed: *replayed,
                    token,
                }
            }
        })*
    };
}

write_answer!(v1::EnrolResponse, v1::UpdateResponse);

/// The bytes a write receipt signs.
pub fn write_bytes(answer: WriteAnswer<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(WRITE_LABEL);
    put(&mut out, answer.request_id.as_bytes());
    put(&mut out, answer.reference.as_bytes());
    out.extend_from_slice(&answer.version.to_le_bytes());
    out.push(u8::from(answer.replayed));
    put(&mut out, answer.token.as_bytes());
    out
}

/// Whether `receipt` is a valid Ed25519 signature by `public_key` over `bytes`.
pub fn is_signed(public_key: &[u8], bytes: &[u8], receipt: &[u8]) -> bool {
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
