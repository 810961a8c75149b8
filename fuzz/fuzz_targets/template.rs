//! ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 minutiae records, through the parser the
//! gateway uses (the length field picks the layout) and the decode into a matchable
//! sample; a record that parses must encode and parse back to itself.
#![no_main]

use idauth_match::format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(record) = format::parse(bytes) else {
        return;
    };
    let _ = record.fingers();
    if let Ok(encoded) = format::encode(&record) {
        let again = format::parse(&encoded).expect("an encoded record parses");
        assert_eq!(again, record, "parse(encode(record)) != record");
    }
});
