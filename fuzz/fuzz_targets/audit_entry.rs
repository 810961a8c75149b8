//! The audit log's stored entry and head, and the idempotency entry, as read from disk.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| idauth_store::fuzzing::audit_entry(bytes));
