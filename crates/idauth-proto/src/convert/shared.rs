//! Pieces every message uses: identifiers, fingers, demographics, timestamps, factors.

use super::*;

/// A resident identifier from the wire.
pub fn resident_id(identifier: Option<v1::Identifier>) -> Result<ResidentId> {
    let v1::Identifier { r#type, value } = identifier.ok_or(invalid(
        ErrorCode::InvalidIdentifier,
        "resident identifier missing",
    ))?;
    let kind = match v1::IdentifierType::try_from(r#type) {
        Ok(v1::IdentifierType::NationalId) => IdentifierType::NationalId,
        Ok(v1::IdentifierType::VirtualId) => IdentifierType::VirtualId,
        Ok(v1::IdentifierType::Unspecified) | Err(_) => {
            return Err(invalid(
                ErrorCode::InvalidIdentifier,
                "identifier type missing or unknown",
            ));
        }
    };
    ResidentId::new(kind, &value).ok_or(invalid(
        ErrorCode::InvalidIdentifier,
        "identifier value must be 1 to 64 letters, digits or '-'",
    ))
}

/// The wire form of a resident identifier.
pub fn resident_id_to_wire(id: &ResidentId) -> v1::Identifier {
    let kind = match id.kind() {
        IdentifierType::NationalId => v1::IdentifierType::NationalId,
        IdentifierType::VirtualId => v1::IdentifierType::VirtualId,
    };
    v1::Identifier {
        r#type: kind.into(),
        value: id.value().to_owned(),
    }
}

/// Unix milliseconds of a wire timestamp (`None` when absent). A time beyond what
/// milliseconds in an i64 can hold saturates, so it is refused as in the future or in
/// the past, as it is, not as missing.
pub fn timestamp_ms(timestamp: Option<Timestamp>) -> Option<i64> {
    let Timestamp { seconds, nanos } = timestamp?;
    Some(
        seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(nanos) / 1_000_000),
    )
}

/// The wire form of Unix milliseconds.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}
