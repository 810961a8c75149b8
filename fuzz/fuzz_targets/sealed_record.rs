//! A sealed resident record as read from the data file, and the record decoder behind
//! its AEAD.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| idauth_store::fuzzing::sealed_record(bytes));
