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

/// One finger from the wire (position and format checked, bytes not yet parsed).
pub fn finger(finger: v1::Finger) -> Result<FingerSample> {
    let v1::Finger {
        position,
        format,
        template,
    } = finger;
    let position = u8::try_from(position)
        .ok()
        .and_then(FingerPosition::from_code)
        .ok_or(invalid(
            ErrorCode::InvalidFingerPosition,
            "finger position outside 0..=10",
        ))?;
    let format = match v1::TemplateFormat::try_from(format) {
        Ok(v1::TemplateFormat::Iso1979422005) => TemplateFormat::Iso19794_2_2005,
        Ok(v1::TemplateFormat::Ansi3782004) => TemplateFormat::Ansi378_2004,
        Ok(v1::TemplateFormat::Unspecified) | Err(_) => {
            return Err(invalid(
                ErrorCode::UnsupportedTemplateFormat,
                "template format missing or unknown",
            ));
        }
    };
    Ok(FingerSample {
        position,
        format,
        template,
    })
}

/// Every finger of a request, in order.
pub fn fingers(fingers: Vec<v1::Finger>) -> Result<Vec<FingerSample>> {
    fingers.into_iter().map(finger).collect()
}

/// Every finger of a shard command, decoded once and checked as a set for `usage`.
/// The gateway checked them already; a shard reached over the wire cannot know that,
/// and needs the minutiae anyway.
pub fn checked_fingers(wire: Vec<v1::Finger>, usage: FingerUse) -> Result<CheckedFingers> {
    let samples = fingers(wire)?;
    check_finger_set(samples.iter().map(|f| f.position), usage).map_err(core_invalid)?;
    let checked = samples
        .into_iter()
        .map(|sample| {
            idauth_match::sample::check_finger(sample).map_err(|error| {
                invalid(error.code(), "a finger record does not decode as declared")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    CheckedFingers::new(checked, usage).map_err(core_invalid)
}

/// The wire form of a finger.
pub fn finger_to_wire(sample: &FingerSample) -> v1::Finger {
    let FingerSample {
        position,
        format,
        template,
    } = sample;
    let format = match format {
        TemplateFormat::Iso19794_2_2005 => v1::TemplateFormat::Iso1979422005,
        TemplateFormat::Ansi378_2004 => v1::TemplateFormat::Ansi3782004,
    };
    v1::Finger {
        position: u32::from(position.code()),
        format: format.into(),
        template: template.clone(),
    }
}

fn address(address: Option<v1::Address>) -> Address {
    let v1::Address {
        line,
        locality,
        district,
        state,
        postal_code,
    } = address.unwrap_or_default();
    Address {
        line,
        locality,
        district,
        state,
        postal_code,
    }
}

fn address_to_wire(address: &Address) -> v1::Address {
    let Address {
        line,
        locality,
        district,
        state,
        postal_code,
    } = address.clone();
    v1::Address {
        line,
        locality,
        district,
        state,
        postal_code,
    }
}

/// Demographics from the wire; a missing message is all fields empty.
pub fn demographics(demographics: Option<v1::Demographics>) -> Demographics {
    let v1::Demographics {
        name,
        date_of_birth,
        gender,
        address: wire_address,
    } = demographics.unwrap_or_default();
    Demographics {
        name,
        date_of_birth,
        gender,
        address: address(wire_address),
    }
}

/// The wire form of demographics.
pub fn demographics_to_wire(demographics: &Demographics) -> v1::Demographics {
    let Demographics {
        name,
        date_of_birth,
        gender,
        address,
    } = demographics;
    v1::Demographics {
        name: name.clone(),
        date_of_birth: date_of_birth.clone(),
        gender: gender.clone(),
        address: Some(address_to_wire(address)),
    }
}

/// A demographic query from the wire; a missing message checks nothing.
pub fn demographic_query(query: Option<v1::DemographicQuery>) -> Result<DemographicQuery> {
    let v1::DemographicQuery {
        name,
        name_match,
        date_of_birth,
        gender,
        address: wire_address,
    } = query.unwrap_or_default();
    let name_match = match v1::NameMatch::try_from(name_match) {
        Ok(v1::NameMatch::Exact) => NameMatch::Exact,
        Ok(v1::NameMatch::Partial) => NameMatch::Partial,
        Err(_) => return Err(invalid(ErrorCode::BadRequest, "unknown name match mode")),
    };
    Ok(DemographicQuery {
        name,
        name_match,
        date_of_birth,
        gender,
        address: address(wire_address),
    })
}

/// The wire form of a demographic query.
pub fn demographic_query_to_wire(query: &DemographicQuery) -> v1::DemographicQuery {
    let DemographicQuery {
        name,
        name_match,
        date_of_birth,
        gender,
        address,
    } = query;
    let name_match = match name_match {
        NameMatch::Exact => v1::NameMatch::Exact,
        NameMatch::Partial => v1::NameMatch::Partial,
    };
    v1::DemographicQuery {
        name: name.clone(),
        name_match: name_match.into(),
        date_of_birth: date_of_birth.clone(),
        gender: gender.clone(),
        address: Some(address_to_wire(address)),
    }
}

/// Unix milliseconds of a wire timestamp (`None` when absent or out of range).
pub fn timestamp_ms(timestamp: Option<Timestamp>) -> Option<i64> {
    let Timestamp { seconds, nanos } = timestamp?;
    seconds
        .checked_mul(1000)?
        .checked_add(i64::from(nanos) / 1_000_000)
}

/// The wire form of Unix milliseconds.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn factor_to_wire(factor: Factor) -> v1::Factor {
    match factor {
        Factor::Fingerprint => v1::Factor::Fingerprint,
        Factor::Name => v1::Factor::Name,
        Factor::DateOfBirth => v1::Factor::DateOfBirth,
        Factor::Gender => v1::Factor::Gender,
        Factor::Address => v1::Factor::Address,
    }
}

/// The wire form of a factor result.
pub fn factor_result_to_wire(result: &FactorResult) -> v1::FactorResult {
    let FactorResult { factor, matched } = *result;
    v1::FactorResult {
        factor: factor_to_wire(factor).into(),
        matched,
    }
}

/// A factor result from the wire (`None` for a factor this build does not know).
pub fn factor_result(result: &v1::FactorResult) -> Option<FactorResult> {
    let v1::FactorResult { factor, matched } = *result;
    let factor = match v1::Factor::try_from(factor).ok()? {
        v1::Factor::Fingerprint => Factor::Fingerprint,
        v1::Factor::Name => Factor::Name,
        v1::Factor::DateOfBirth => Factor::DateOfBirth,
        v1::Factor::Gender => Factor::Gender,
        v1::Factor::Address => Factor::Address,
        v1::Factor::Unspecified => return None,
    };
    Some(FactorResult { factor, matched })
}
