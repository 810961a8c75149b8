//! The record-header fields ISO 19794-2:2005 and ANSI 378-2004 share after the length
//! (and, for ANSI, the product id): capture equipment, image size, resolution, views.

use super::reader::Reader;
use super::views::{Geometry, parse_views};
use super::{MinutiaeRecord, ParseLimits, TemplateFormat};
use crate::error::{MatchError, Result};

/// Checks a declared record length against the buffer and the fixed header size.
pub(super) fn declared_end(
    declared: usize,
    available: usize,
    field_offset: usize,
    header_len: usize,
) -> Result<usize> {
    if declared < header_len {
        return Err(MatchError::DeclaredLengthTooSmall {
            field_offset,
            declared,
            minimum: header_len,
        });
    }
    if declared > available {
        return Err(MatchError::DeclaredLengthExceedsBuffer {
            field_offset,
            declared,
            available,
        });
    }
    Ok(declared)
}

/// Parses equipment, image size, resolution, view count and the views.
pub(super) fn parse_body(
    reader: &mut Reader<'_>,
    format: TemplateFormat,
    product_id: Option<(u16, u16)>,
    limits: &ParseLimits,
) -> Result<MinutiaeRecord> {
    let equipment = reader.u16("capture equipment")?;
    let width_offset = reader.pos();
    let width = reader.u16("image width")?;
    let height = reader.u16("image height")?;
    let x_resolution = reader.u16("horizontal resolution")?;
    let y_resolution = reader.u16("vertical resolution")?;
    for (field, value, offset) in [
        ("image width", width, width_offset),
        ("image height", height, width_offset + 2),
        ("horizontal resolution", x_resolution, width_offset + 4),
        ("vertical resolution", y_resolution, width_offset + 6),
    ] {
        if value == 0 {
            return Err(MatchError::InvalidField {
                field,
                value: 0,
                offset,
            });
        }
    }
    let count_offset = reader.pos();
    let view_count = usize::from(reader.u8("finger view count")?);
    if view_count == 0 {
        return Err(MatchError::ZeroViews {
            offset: count_offset,
        });
    }
    if view_count > limits.max_views {
        return Err(MatchError::TooManyViews {
            count: view_count,
            max: limits.max_views,
            offset: count_offset,
        });
    }
    reader.u8("reserved byte")?;
    let views = parse_views(
        reader,
        format,
        view_count,
        &Geometry { width, height },
        limits,
    )?;
    Ok(MinutiaeRecord {
        format,
        product_id,
        equipment_compliance: (equipment >> 12) as u8,
        equipment_id: equipment & 0x0fff,
        width,
        height,
        x_resolution,
        y_resolution,
        views,
    })
}

/// Writes equipment, image size, resolution, view count and the reserved byte.
pub(super) fn encode_body(out: &mut Vec<u8>, record: &MinutiaeRecord) -> Result<()> {
    if record.equipment_compliance > 0x0f || record.equipment_id > 0x0fff {
        return Err(MatchError::Unencodable(
            "capture equipment field over 16 bits",
        ));
    }
    let equipment = (u16::from(record.equipment_compliance) << 12) | record.equipment_id;
    out.extend_from_slice(&equipment.to_be_bytes());
    for value in [
        record.width,
        record.height,
        record.x_resolution,
        record.y_resolution,
    ] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    let views = u8::try_from(record.views.len())
        .map_err(|_| MatchError::Unencodable("more than 255 finger views"))?;
    out.push(views);
    out.push(0);
    Ok(())
}
