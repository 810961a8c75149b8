//! The finger-view and minutia layout shared by ISO 19794-2:2005 and ANSI 378-2004.

use idauth_core::{FingerPosition, ImpressionType, MinutiaKind};

use super::reader::Reader;
use super::{FingerView, Minutia, ParseLimits, TemplateFormat, angle_from_code, angle_to_code};
use crate::error::{MatchError, Result};

/// Bytes in one encoded minutia.
pub(super) const MINUTIA_LEN: usize = 6;
/// Bytes in one finger view header.
pub(super) const VIEW_HEADER_LEN: usize = 4;

/// Image geometry the views are checked against.
pub(super) struct Geometry {
    pub width: u16,
    pub height: u16,
}

pub(super) fn parse_views(
    reader: &mut Reader<'_>,
    format: TemplateFormat,
    view_count: usize,
    geometry: &Geometry,
    limits: &ParseLimits,
) -> Result<Vec<FingerView>> {
    let mut views = Vec::with_capacity(view_count);
    for view_index in 0..view_count {
        views.push(parse_view(reader, format, view_index, geometry, limits)?);
    }
    Ok(views)
}

fn parse_view(
    reader: &mut Reader<'_>,
    format: TemplateFormat,
    view_index: usize,
    geometry: &Geometry,
    limits: &ParseLimits,
) -> Result<FingerView> {
    let position_offset = reader.pos();
    let position_code = reader.u8("finger position")?;
    let position = FingerPosition::from_code(position_code).ok_or(MatchError::InvalidField {
        field: "finger position",
        value: u32::from(position_code),
        offset: position_offset,
    })?;
    let view_offset = reader.pos();
    let view_and_impression = reader.u8("view number and impression type")?;
    let impression_code = view_and_impression & 0x0f;
    let impression =
        ImpressionType::from_code(impression_code).ok_or(MatchError::InvalidField {
            field: "impression type",
            value: u32::from(impression_code),
            offset: view_offset,
        })?;
    let quality_offset = reader.pos();
    let quality = reader.u8("finger quality")?;
    if quality > 100 {
        return Err(MatchError::InvalidField {
            field: "finger quality",
            value: u32::from(quality),
            offset: quality_offset,
        });
    }
    let count_offset = reader.pos();
    let count = usize::from(reader.u8("minutiae count")?);
    if count > limits.max_minutiae_per_view {
        return Err(MatchError::TooManyMinutiae {
            view: view_index,
            count,
            max: limits.max_minutiae_per_view,
            offset: count_offset,
        });
    }
    let mut minutiae = Vec::with_capacity(count);
    for index in 0..count {
        minutiae.push(parse_minutia(reader, format, view_index, index, geometry)?);
    }
    // The outer extended-data length is authoritative; the blocks inside are opaque.
    let extended_length = usize::from(reader.u16("extended data length")?);
    let extended_data = reader.take_clipped(extended_length).to_vec();
    Ok(FingerView {
        position,
        view_number: view_and_impression >> 4,
        impression,
        quality,
        minutiae,
        extended_data,
    })
}

fn parse_minutia(
    reader: &mut Reader<'_>,
    format: TemplateFormat,
    view: usize,
    index: usize,
    geometry: &Geometry,
) -> Result<Minutia> {
    let offset = reader.pos();
    let raw = reader.take(MINUTIA_LEN, "minutia")?;
    let kind_code = raw[0] >> 6;
    let kind = MinutiaKind::from_code(kind_code).ok_or(MatchError::InvalidField {
        field: "minutia type",
        value: u32::from(kind_code),
        offset,
    })?;
    let x = u16::from_be_bytes([raw[0], raw[1]]) & 0x3fff;
    let y = u16::from_be_bytes([raw[2], raw[3]]) & 0x3fff;
    if x >= geometry.width || y >= geometry.height {
        return Err(MatchError::MinutiaOutsideImage {
            view,
            index,
            offset,
            x,
            y,
            width: geometry.width,
            height: geometry.height,
        });
    }
    // ANSI 378 reserves codes 180..=255, but widely used writers (FingerprintIO's ANSI
    // sample among them) emit them; they are read as written (2 degrees each, past
    // 360) and written back unchanged, since the matcher wraps angles anyway.
    let angle_code = raw[4];
    let quality = raw[5];
    if quality > 100 {
        return Err(MatchError::InvalidField {
            field: "minutia quality",
            value: u32::from(quality),
            offset: offset + 5,
        });
    }
    Ok(Minutia {
        kind,
        x,
        y,
        angle: angle_from_code(format, angle_code),
        quality,
    })
}

/// Bytes the views take when encoded.
pub(super) fn encoded_views_len(views: &[FingerView]) -> usize {
    views
        .iter()
        .map(|v| VIEW_HEADER_LEN + MINUTIA_LEN * v.minutiae.len() + 2 + v.extended_data.len())
        .sum()
}

pub(super) fn encode_views(
    out: &mut Vec<u8>,
    format: TemplateFormat,
    views: &[FingerView],
) -> Result<()> {
    for view in views {
        if view.view_number > 15 {
            return Err(MatchError::Unencodable("view number above 15"));
        }
        let count = u8::try_from(view.minutiae.len())
            .map_err(|_| MatchError::Unencodable("more than 255 minutiae"))?;
        out.push(view.position.code());
        out.push((view.view_number << 4) | view.impression.code());
        out.push(view.quality);
        out.push(count);
        for minutia in &view.minutiae {
            if minutia.x > 0x3fff || minutia.y > 0x3fff {
                return Err(MatchError::Unencodable("minutia coordinate above 16383"));
            }
            let x = (u16::from(minutia.kind.code()) << 14) | minutia.x;
            out.extend_from_slice(&x.to_be_bytes());
            out.extend_from_slice(&minutia.y.to_be_bytes());
            out.push(angle_to_code(format, minutia.angle)?);
            out.push(minutia.quality);
        }
        let extended_length = u16::try_from(view.extended_data.len())
            .map_err(|_| MatchError::Unencodable("extended data over 65535 bytes"))?;
        out.extend_from_slice(&extended_length.to_be_bytes());
        out.extend_from_slice(&view.extended_data);
    }
    Ok(())
}
