//! The matcher's one error type.

use idauth_core::ErrorCode;

/// Everything that can go wrong while decoding templates or comparing fingers.
///
/// Messages are lowercase, name the problem and, for decoding errors, the byte offset in
/// the record where it was found, so that an enrolment centre can tell a truncated upload
/// from a bad extractor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The buffer is shorter than the header of any supported record.
    #[error(
        "record too short: {available} bytes, a finger minutiae record header needs at least {needed}"
    )]
    TooShort {
        /// Bytes needed for the header.
        needed: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// Bytes 0..4 are not the format identifier `FMR\0`.
    #[error("not a finger minutiae record: bytes 0..4 are {found:02x?}, expected \"FMR\\0\"")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// Bytes 4..8 name a version this matcher does not decode.
    #[error(
        "unsupported record version {version:?} at byte 4: only ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 (\" 20\") are accepted"
    )]
    UnsupportedVersion {
        /// The version string as found (printable bytes only).
        version: String,
    },
    /// The record length field declares more bytes than the buffer holds.
    #[error(
        "record truncated: length field at byte {field_offset} declares {declared} bytes but only {available} are present"
    )]
    DeclaredLengthExceedsBuffer {
        /// Offset of the length field.
        field_offset: usize,
        /// Declared record length.
        declared: usize,
        /// Bytes present.
        available: usize,
    },
    /// The record length field is smaller than the fixed header.
    #[error(
        "record length field at byte {field_offset} declares {declared} bytes, less than the {minimum}-byte header"
    )]
    DeclaredLengthTooSmall {
        /// Offset of the length field.
        field_offset: usize,
        /// Declared record length.
        declared: usize,
        /// Size of the fixed header.
        minimum: usize,
    },
    /// A field runs past the end of the declared record.
    #[error(
        "record truncated at byte {offset}: {what} needs {needed} bytes but the record ends after {available}"
    )]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Which field.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left before the declared end.
        available: usize,
    },
    /// A header or view field holds a value the standard does not allow.
    #[error("invalid {field} {value} at byte {offset}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: u32,
        /// Where it is.
        offset: usize,
    },
    /// The record holds no finger view.
    #[error("record declares zero finger views at byte {offset}")]
    ZeroViews {
        /// Offset of the view count.
        offset: usize,
    },
    /// More finger views than the service accepts.
    #[error("record declares {count} finger views at byte {offset}, at most {max} are accepted")]
    TooManyViews {
        /// Declared views.
        count: usize,
        /// Accepted maximum.
        max: usize,
        /// Offset of the view count.
        offset: usize,
    },
    /// More minutiae in one view than the service accepts.
    #[error(
        "finger view {view} declares {count} minutiae at byte {offset}, at most {max} are accepted"
    )]
    TooManyMinutiae {
        /// View index in the record (0-based).
        view: usize,
        /// Declared minutiae.
        count: usize,
        /// Accepted maximum.
        max: usize,
        /// Offset of the count.
        offset: usize,
    },
    /// A minutia lies outside the image the record declares.
    #[error(
        "minutia {index} of finger view {view} at byte {offset} lies at ({x}, {y}), outside the {width}x{height} image"
    )]
    MinutiaOutsideImage {
        /// View index (0-based).
        view: usize,
        /// Minutia index in the view (0-based).
        index: usize,
        /// Offset of the minutia.
        offset: usize,
        /// Its x coordinate.
        x: u16,
        /// Its y coordinate.
        y: u16,
        /// Image width.
        width: u16,
        /// Image height.
        height: u16,
    },
    /// A record cannot be encoded (a value does not fit the format).
    #[error("cannot encode record: {0}")]
    Unencodable(&'static str),
    /// A finger yielded too few usable minutiae cylinders to be compared.
    #[error("finger has {usable} usable minutiae cylinders, at least {needed} are needed")]
    TooSparse {
        /// Cylinders that passed the validity rules.
        usable: usize,
        /// Minimum required.
        needed: usize,
    },
    /// The record is not in the format the request declares.
    #[error("template declared as {declared} but the record is {found}")]
    FormatMismatch {
        /// The declared format's name.
        declared: &'static str,
        /// The detected format's name.
        found: &'static str,
    },
    /// A request finger must carry exactly one finger view.
    #[error("a finger's template must hold exactly one finger view, this one holds {count}")]
    ViewCount {
        /// Views in the record.
        count: usize,
    },
    /// The finger position in the request differs from the one in the record.
    #[error(
        "finger position {declared} in the request differs from position {recorded} in the template"
    )]
    PositionMismatch {
        /// Position code in the request.
        declared: u8,
        /// Position code in the record.
        recorded: u8,
    },
    /// An evaluation corpus could not be read.
    #[error("corpus {path}: {reason}")]
    Corpus {
        /// File or folder concerned.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl MatchError {
    /// The caller-visible code from the stable catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooShort { .. }
            | Self::BadMagic { .. }
            | Self::DeclaredLengthExceedsBuffer { .. }
            | Self::DeclaredLengthTooSmall { .. }
            | Self::Truncated { .. }
            | Self::InvalidField { .. }
            | Self::ZeroViews { .. }
            | Self::TooManyViews { .. }
            | Self::TooManyMinutiae { .. }
            | Self::MinutiaOutsideImage { .. }
            | Self::Unencodable(_)
            | Self::FormatMismatch { .. }
            | Self::ViewCount { .. }
            | Self::Corpus { .. } => ErrorCode::MalformedTemplate,
            Self::PositionMismatch { .. } => ErrorCode::InvalidFingerPosition,
            Self::UnsupportedVersion { .. } => ErrorCode::UnsupportedTemplateFormat,
            Self::TooSparse { .. } => ErrorCode::TemplateTooSparse,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = MatchError> = std::result::Result<T, E>;
