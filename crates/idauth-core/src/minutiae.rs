//! Decoded minutiae: what a finger record says once its format is read. The parsers
//! live in `idauth-match`; the types live here so that a checked request can carry what
//! was decoded to every layer below the gateway without each decoding it again.

use crate::finger::{FingerPosition, MinutiaKind};

/// One minutia, in the record's own pixel grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minutia {
    /// Ending, bifurcation or other.
    pub kind: MinutiaKind,
    /// Column in pixels from the left edge.
    pub x: u16,
    /// Row in pixels from the top edge.
    pub y: u16,
    /// Ridge direction in radians, counter-clockwise from the x axis as seen on the
    /// image; always a whole number (0..=255) of the format's angle units. Below 2*pi
    /// except for the ANSI codes 180..=255 that some writers emit.
    pub angle: f32,
    /// Minutia quality, 0 (unknown) or 1..=100.
    pub quality: u8,
}

/// The minutiae of one finger with everything the matcher needs to place them.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerMinutiae {
    /// Which finger.
    pub position: FingerPosition,
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Horizontal resolution in pixels per inch.
    pub x_ppi: f32,
    /// Vertical resolution in pixels per inch.
    pub y_ppi: f32,
    /// The minutiae in image pixels.
    pub minutiae: Vec<Minutia>,
}
