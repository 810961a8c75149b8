//! Request ids, txns and timestamps as a client makes them.

use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The current time, as a request's timestamp.
pub fn now() -> prost_types::Timestamp {
    idauth_proto::convert::timestamp(now_ms())
}

/// A fresh id for a request or a transaction: `<prefix>-<ms hex>-<12 random hex>`.
pub fn fresh_id(prefix: &str) -> String {
    let mut random = [0u8; 6];
    // Uniqueness only: a failed random source still leaves the time part.
    let _ = getrandom::fill(&mut random);
    let tail: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{:x}-{tail}", now_ms())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fresh_ids_differ_and_keep_their_prefix() {
        let (a, b) = (super::fresh_id("txn"), super::fresh_id("txn"));
        assert!(a.starts_with("txn-") && b.starts_with("txn-"));
        assert_ne!(a, b);
        assert!(a.len() <= 50, "fits the service's txn limit");
    }
}
