//! Fingers, impressions and minutia kinds, with the numeric codes that ISO/IEC 19794-2
//! and ANSI INCITS 378 use on the wire (the two standards share these tables).

use serde::{Deserialize, Serialize};

/// Which finger a template belongs to (ISO/IEC 19794-2 table 2, ANSI 378 table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FingerPosition {
    /// Position not recorded by the capture device.
    Unknown,
    /// Right thumb.
    RightThumb,
    /// Right index finger.
    RightIndex,
    /// Right middle finger.
    RightMiddle,
    /// Right ring finger.
    RightRing,
    /// Right little finger.
    RightLittle,
    /// Left thumb.
    LeftThumb,
    /// Left index finger.
    LeftIndex,
    /// Left middle finger.
    LeftMiddle,
    /// Left ring finger.
    LeftRing,
    /// Left little finger.
    LeftLittle,
}

impl FingerPosition {
    /// All positions in wire-code order (index = code).
    pub const ALL: [FingerPosition; 11] = [
        Self::Unknown,
        Self::RightThumb,
        Self::RightIndex,
        Self::RightMiddle,
        Self::RightRing,
        Self::RightLittle,
        Self::LeftThumb,
        Self::LeftIndex,
        Self::LeftMiddle,
        Self::LeftRing,
        Self::LeftLittle,
    ];

    /// The wire code (0 = unknown, 1..=10 = right thumb .. left little).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Decodes a wire code; `None` for codes outside 0..=10 (the standards' plain-finger
    /// and multi-finger codes 11..=15 are not single fingers and are not accepted).
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The upper-snake name used by the conformance vectors and the JSON interfaces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::RightThumb => "RIGHT_THUMB",
            Self::RightIndex => "RIGHT_INDEX",
            Self::RightMiddle => "RIGHT_MIDDLE",
            Self::RightRing => "RIGHT_RING",
            Self::RightLittle => "RIGHT_LITTLE",
            Self::LeftThumb => "LEFT_THUMB",
            Self::LeftIndex => "LEFT_INDEX",
            Self::LeftMiddle => "LEFT_MIDDLE",
            Self::LeftRing => "LEFT_RING",
            Self::LeftLittle => "LEFT_LITTLE",
        }
    }
}

/// How the finger image behind a template was captured (impression type code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImpressionType {
    /// Live-scan plain impression (code 0).
    LivePlain,
    /// Live-scan rolled impression (code 1).
    LiveRolled,
    /// Non-live-scan (ink) plain impression (code 2).
    NonLivePlain,
    /// Non-live-scan (ink) rolled impression (code 3).
    NonLiveRolled,
    /// Swipe sensor (code 8).
    Swipe,
    /// Live-scan contactless (code 9).
    LiveContactless,
}

impl ImpressionType {
    /// The 4-bit wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::LivePlain => 0,
            Self::LiveRolled => 1,
            Self::NonLivePlain => 2,
            Self::NonLiveRolled => 3,
            Self::Swipe => 8,
            Self::LiveContactless => 9,
        }
    }

    /// Decodes a 4-bit wire code; `None` for reserved codes.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::LivePlain,
            1 => Self::LiveRolled,
            2 => Self::NonLivePlain,
            3 => Self::NonLiveRolled,
            8 => Self::Swipe,
            9 => Self::LiveContactless,
            _ => return None,
        })
    }

    /// The upper-snake name used by the conformance vectors.
    pub fn name(self) -> &'static str {
        match self {
            Self::LivePlain => "LIVE_PLAIN",
            Self::LiveRolled => "LIVE_ROLLED",
            Self::NonLivePlain => "NONLIVE_PLAIN",
            Self::NonLiveRolled => "NONLIVE_ROLLED",
            Self::Swipe => "SWIPE",
            Self::LiveContactless => "LIVE_CONTACTLESS",
        }
    }
}

/// The kind of a minutia (2-bit wire code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MinutiaKind {
    /// Code 0: neither an ending nor a bifurcation (or not determined).
    Other,
    /// Code 1: ridge ending.
    Ending,
    /// Code 2: ridge bifurcation.
    Bifurcation,
}

impl MinutiaKind {
    /// The 2-bit wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::Other => 0,
            Self::Ending => 1,
            Self::Bifurcation => 2,
        }
    }

    /// Decodes the 2-bit wire code; `None` for the reserved value 3.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Other,
            1 => Self::Ending,
            2 => Self::Bifurcation,
            _ => return None,
        })
    }

    /// The upper-snake name used by the conformance vectors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Other => "OTHER",
            Self::Ending => "ENDING",
            Self::Bifurcation => "BIFURCATION",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finger_codes_round_trip_and_reject_multi_finger_codes() {
        for code in 0..=10u8 {
            assert_eq!(
                FingerPosition::from_code(code).map(FingerPosition::code),
                Some(code)
            );
        }
        for code in 11..=255u8 {
            assert_eq!(FingerPosition::from_code(code), None);
        }
    }

    #[test]
    fn impression_and_minutia_codes_round_trip() {
        for code in 0..16u8 {
            if let Some(kind) = ImpressionType::from_code(code) {
                assert_eq!(kind.code(), code);
            }
        }
        assert_eq!(ImpressionType::from_code(4), None);
        for code in 0..3u8 {
            assert_eq!(
                MinutiaKind::from_code(code).map(MinutiaKind::code),
                Some(code)
            );
        }
        assert_eq!(MinutiaKind::from_code(3), None);
    }
}
