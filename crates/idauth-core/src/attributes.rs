//! Demographic attributes with a form of their own, checked when built. Each holds the
//! text as sent; the empty text is the attribute not given. Stored records carry the
//! plain text (the serde form is the string), written only from checked values.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::error_code::ErrorCode;

/// A date of birth, `YYYY-MM-DD` (month 01-12, day 01-31), or not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DateOfBirth(String);

impl DateOfBirth {
    /// Checks a date of birth; the empty text is "not given".
    pub fn new(text: impl Into<String>) -> Result<Self, CoreError> {
        let text = text.into();
        if text.is_empty() || is_date(&text) {
            Ok(Self(text))
        } else {
            Err(CoreError::invalid(
                ErrorCode::InvalidDemographics,
                "date of birth not YYYY-MM-DD",
            ))
        }
    }

    /// The date as sent (empty when not given).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether no date was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
            && [y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
            && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)))
}

/// A gender, `M`, `F` or `T` in either case, or not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Gender(String);

impl Gender {
    /// Checks a gender; the empty text is "not given".
    pub fn new(text: impl Into<String>) -> Result<Self, CoreError> {
        let text = text.into();
        if matches!(text.as_str(), "" | "M" | "F" | "T" | "m" | "f" | "t") {
            Ok(Self(text))
        } else {
            Err(CoreError::invalid(
                ErrorCode::InvalidDemographics,
                "gender must be M, F or T",
            ))
        }
    }

    /// The gender as sent (empty when not given).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether no gender was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether two genders are the same, whatever their case.
    pub fn same_as(&self, other: &Gender) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_genders_are_checked_when_built() {
        assert!(DateOfBirth::new("1990-01-31").is_ok());
        assert!(DateOfBirth::new("").unwrap().is_empty());
        for bad in [
            "1990-13-01",
            "1990-00-10",
            "1990-01-32",
            "90-01-01",
            "1990/01/01",
            "1990-1-01",
            "abcd-01-01",
        ] {
            let error = DateOfBirth::new(bad).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidDemographics, "{bad}");
        }
        assert!(
            Gender::new("m")
                .unwrap()
                .same_as(&Gender::new("M").unwrap())
        );
        assert!(
            !Gender::new("F")
                .unwrap()
                .same_as(&Gender::new("T").unwrap())
        );
        assert!(Gender::new("X").is_err());
        assert!(Gender::new("male").is_err());
    }
}
