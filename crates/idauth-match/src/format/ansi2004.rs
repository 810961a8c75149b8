//! ANSI INCITS 378-2004 record header: "FMR\0", " 20\0", a 2-byte length (or 0x0000 and a
//! 4-byte length), the 4-byte CBEFF product id, then the same fields as ISO 2005.

use super::header::{declared_end, encode_body, parse_body};
use super::reader::Reader;
use super::views::{encode_views, encoded_views_len};
use super::{MinutiaeRecord, ParseLimits, TemplateFormat};
use crate::error::{MatchError, Result};

/// Header bytes with the 2-byte length form.
const SHORT_HEADER_LEN: usize = 26;
/// Header bytes with the 6-byte length form.
const LONG_HEADER_LEN: usize = 30;

pub(super) fn parse(
    bytes: &[u8],
    limits: &ParseLimits,
    long_length: bool,
) -> Result<MinutiaeRecord> {
    let (declared, header_len, body_start) = if long_length {
        if bytes.len() < 14 {
            return Err(MatchError::TooShort {
                needed: LONG_HEADER_LEN,
                available: bytes.len(),
            });
        }
        (
            u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize,
            LONG_HEADER_LEN,
            14,
        )
    } else {
        (
            usize::from(u16::from_be_bytes([bytes[8], bytes[9]])),
            SHORT_HEADER_LEN,
            10,
        )
    };
    let field_offset = if long_length { 10 } else { 8 };
    let end = declared_end(declared, bytes.len(), field_offset, header_len)?;
    let mut reader = Reader::new(bytes, body_start, end);
    let owner = reader.u16("CBEFF product owner")?;
    let kind = reader.u16("CBEFF product type")?;
    parse_body(
        &mut reader,
        TemplateFormat::Ansi378_2004,
        Some((owner, kind)),
        limits,
    )
}

pub(super) fn encode(record: &MinutiaeRecord) -> Result<Vec<u8>> {
    let views_len = encoded_views_len(&record.views);
    let short_total = SHORT_HEADER_LEN + views_len;
    let mut out = Vec::with_capacity(short_total + 4);
    out.extend_from_slice(b"FMR\0 20\0");
    if let Ok(short) = u16::try_from(short_total) {
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        let long = u32::try_from(LONG_HEADER_LEN + views_len)
            .map_err(|_| MatchError::Unencodable("record over 4 GiB"))?;
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&long.to_be_bytes());
    }
    let (owner, kind) = record.product_id.unwrap_or((0, 0));
    out.extend_from_slice(&owner.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    encode_body(&mut out, record)?;
    encode_views(&mut out, record.format, &record.views)?;
    Ok(out)
}
