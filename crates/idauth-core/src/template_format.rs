//! The minutiae record formats the service accepts.

use serde::{Deserialize, Serialize};

/// The record formats the matcher reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TemplateFormat {
    /// ISO/IEC 19794-2:2005 finger minutiae record.
    Iso19794_2_2005,
    /// ANSI INCITS 378-2004 finger minutiae record.
    Ansi378_2004,
}

impl TemplateFormat {
    /// One angle unit of the format, in radians.
    pub fn angle_unit(self) -> f32 {
        match self {
            Self::Iso19794_2_2005 => std::f32::consts::TAU / 256.0,
            Self::Ansi378_2004 => std::f32::consts::TAU / 180.0,
        }
    }

    /// The short name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Iso19794_2_2005 => "iso-19794-2-2005",
            Self::Ansi378_2004 => "ansi-378-2004",
        }
    }
}
