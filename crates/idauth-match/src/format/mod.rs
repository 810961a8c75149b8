//! Finger minutiae record formats: ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004.
//!
//! Both standards share the finger-view and minutia layout; they differ in the record
//! header (ANSI has a 2- or 6-byte length and a CBEFF product id, ISO a 4-byte length)
//! and in the angle unit (ISO 360/256 degrees, ANSI 2 degrees). Both decode into one
//! normalised [`MinutiaeRecord`]. Robustness rules, learnt from real files:
//! - bytes after the declared record length are ignored (real files are zero padded);
//! - extended data is skipped by its outer block length and never interpreted, because
//!   reference writers disagree on the inner lengths; an extended-data block that runs a
//!   few bytes past the declared end of the record is clipped there (NIST's and
//!   FingerprintIO's own sample files do this), but minutiae never may.

mod ansi2004;
mod header;
mod iso2005;
mod reader;
mod views;

use idauth_core::{FingerPosition, ImpressionType};

use crate::error::{MatchError, Result};

pub use idauth_core::TemplateFormat;
pub use idauth_core::minutiae::{FingerMinutiae, Minutia};

/// Limits the service puts on a record beyond what the formats allow, so that a
/// hostile record cannot make comparison cost explode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most finger views in one record.
    pub max_views: usize,
    /// Most minutiae in one finger view.
    pub max_minutiae_per_view: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        // Ten fingers with a second view each is the largest legitimate capture; MINDTCT
        // rarely passes 150 minutiae on a 500 ppi plain impression.
        Self {
            max_views: 20,
            max_minutiae_per_view: 200,
        }
    }
}

/// One finger view: the minutiae of one impression of one finger.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerView {
    /// Which finger.
    pub position: FingerPosition,
    /// View number of this finger in the record (0..=15).
    pub view_number: u8,
    /// How the impression was captured.
    pub impression: ImpressionType,
    /// Finger quality, 0..=100.
    pub quality: u8,
    /// The minutiae.
    pub minutiae: Vec<Minutia>,
    /// The extended data block, raw, without its 2-byte length (not interpreted).
    pub extended_data: Vec<u8>,
}

/// A decoded finger minutiae record.
#[derive(Debug, Clone, PartialEq)]
pub struct MinutiaeRecord {
    /// The format it was read from (and is written back in).
    pub format: TemplateFormat,
    /// CBEFF product identifier (owner, type); ANSI only, `None` for ISO.
    pub product_id: Option<(u16, u16)>,
    /// Capture equipment compliance / certification flags (4 bits).
    pub equipment_compliance: u8,
    /// Capture equipment id (12 bits).
    pub equipment_id: u16,
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Horizontal resolution in pixels per centimetre.
    pub x_resolution: u16,
    /// Vertical resolution in pixels per centimetre.
    pub y_resolution: u16,
    /// The finger views, in record order.
    pub views: Vec<FingerView>,
}

impl MinutiaeRecord {
    /// Each finger view as a self-contained [`FingerMinutiae`].
    pub fn fingers(&self) -> Vec<FingerMinutiae> {
        self.views
            .iter()
            .map(|view| FingerMinutiae {
                position: view.position,
                width: self.width,
                height: self.height,
                x_ppi: f32::from(self.x_resolution) * 2.54,
                y_ppi: f32::from(self.y_resolution) * 2.54,
                minutiae: view.minutiae.clone(),
            })
            .collect()
    }
}

/// Decodes a record of either format with the default limits.
pub fn parse(bytes: &[u8]) -> Result<MinutiaeRecord> {
    parse_with_limits(bytes, &ParseLimits::default())
}

/// Decodes a record of either format, telling them apart by the length field.
pub fn parse_with_limits(bytes: &[u8], limits: &ParseLimits) -> Result<MinutiaeRecord> {
    const MIN_HEADER: usize = 24;
    if bytes.len() < MIN_HEADER {
        return Err(MatchError::TooShort {
            needed: MIN_HEADER,
            available: bytes.len(),
        });
    }
    let magic: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if &magic != b"FMR\0" {
        return Err(MatchError::BadMagic { found: magic });
    }
    let version = &bytes[4..8];
    // FingerprintIO writes the ANSI 2004 version as "020"; the standard says " 20".
    if version != b" 20\0" && version != b"020\0" {
        let printable: String = version
            .iter()
            .filter(|b| b.is_ascii_graphic() || **b == b' ')
            .map(|&b| char::from(b))
            .collect();
        return Err(MatchError::UnsupportedVersion { version: printable });
    }
    match detect_layout(bytes) {
        Layout::Iso => iso2005::parse(bytes, limits),
        Layout::AnsiShort => ansi2004::parse(bytes, limits, false),
        Layout::AnsiLong => ansi2004::parse(bytes, limits, true),
    }
}

/// Encodes a record in its own format.
pub fn encode(record: &MinutiaeRecord) -> Result<Vec<u8>> {
    match record.format {
        TemplateFormat::Iso19794_2_2005 => iso2005::encode(record),
        TemplateFormat::Ansi378_2004 => ansi2004::encode(record),
    }
}

enum Layout {
    Iso,
    AnsiShort,
    AnsiLong,
}

/// ISO puts a 4-byte length at byte 8; ANSI a 2-byte one followed by the product id, or
/// two zero bytes and a 4-byte length when the record passes 65,535 bytes.
fn detect_layout(bytes: &[u8]) -> Layout {
    let high = u16::from_be_bytes([bytes[8], bytes[9]]);
    let iso_length = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if high != 0 {
        // An ISO record of 64 KiB or more fits its buffer; an ANSI short length
        // followed by a product owner reads as a length of many megabytes.
        if iso_length <= bytes.len() {
            Layout::Iso
        } else {
            Layout::AnsiShort
        }
    } else if iso_length < iso2005::HEADER_LEN {
        // Two zero bytes then a small number: the ANSI 6-byte length form, whose
        // 4-byte length is over 65,535 so its high half is non-zero.
        Layout::AnsiLong
    } else {
        Layout::Iso
    }
}

fn angle_from_code(format: TemplateFormat, code: u8) -> f32 {
    f32::from(code) * format.angle_unit()
}

fn angle_to_code(format: TemplateFormat, angle: f32) -> Result<u8> {
    if !angle.is_finite() || angle < 0.0 {
        return Err(MatchError::Unencodable(
            "minutia angle must be finite and non-negative",
        ));
    }
    let code = (angle / format.angle_unit()).round() as u32;
    u8::try_from(code).map_err(|_| MatchError::Unencodable("minutia angle above 255 units"))
}

#[cfg(test)]
mod tests;
