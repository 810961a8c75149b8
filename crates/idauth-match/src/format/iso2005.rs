//! ISO/IEC 19794-2:2005 record header: "FMR\0", " 20\0", 4-byte length, 14 more bytes.

use super::header::{declared_end, encode_body, parse_body};
use super::reader::Reader;
use super::views::{encode_views, encoded_views_len};
use super::{MinutiaeRecord, ParseLimits, TemplateFormat};
use crate::error::{MatchError, Result};

/// Bytes in the ISO 2005 record header.
pub(super) const HEADER_LEN: usize = 24;
const LENGTH_OFFSET: usize = 8;

pub(super) fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<MinutiaeRecord> {
    let declared = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let end = declared_end(declared, bytes.len(), LENGTH_OFFSET, HEADER_LEN)?;
    let mut reader = Reader::new(bytes, 12, end);
    parse_body(&mut reader, TemplateFormat::Iso19794_2_2005, None, limits)
}

pub(super) fn encode(record: &MinutiaeRecord) -> Result<Vec<u8>> {
    let total = HEADER_LEN + encoded_views_len(&record.views);
    let length = u32::try_from(total).map_err(|_| MatchError::Unencodable("record over 4 GiB"))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"FMR\0 20\0");
    out.extend_from_slice(&length.to_be_bytes());
    encode_body(&mut out, record)?;
    encode_views(&mut out, record.format, &record.views)?;
    debug_assert_eq!(out.len(), total);
    Ok(out)
}
