//! The public API's requests and responses.

use idauth_core::DemographicQuery;

use super::*;

/// An envelope must be opened (its fingers moved into `fingers`) by the gateway before
/// a request becomes domain values; one still present is a gateway bug, refused.
fn unopened(envelope: Option<&v1::Envelope>) -> Result<()> {
    match envelope {
        Some(_) => Err(invalid(
            ErrorCode::Internal,
            "envelope not opened before conversion",
        )),
        None => Ok(()),
    }
}

fn enrolment_context(context: Option<v1::EnrolmentContext>) -> Result<EnrolmentContext> {
    let v1::EnrolmentContext {
        centre_id,
        request_id,
        timestamp,
        consent,
    } = context.ok_or(invalid(ErrorCode::BadRequest, "request context missing"))?;
    Ok(EnrolmentContext {
        centre_id,
        request_id,
        timestamp_ms: timestamp_ms(timestamp),
        consent,
    })
}

/// An `Enrol` call.
pub fn enrol_call(request: v1::EnrolRequest) -> Result<EnrolmentCall> {
    let v1::EnrolRequest {
        context,
        resident,
        fingers: wire_fingers,
        demographics: wire_demographics,
        envelope,
    } = request;
    unopened(envelope.as_ref())?;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        action: EnrolmentAction::Enrol {
            fingers: fingers(wire_fingers)?,
            demographics: wire_demographics.unwrap_or_default().try_into()?,
        },
    })
}

/// An `UpdateBiometrics` call.
pub fn update_biometrics_call(request: v1::UpdateBiometricsRequest) -> Result<EnrolmentCall> {
    let v1::UpdateBiometricsRequest {
        context,
        resident,
        fingers: wire_fingers,
        envelope,
    } = request;
    unopened(envelope.as_ref())?;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        action: EnrolmentAction::UpdateBiometrics {
            fingers: fingers(wire_fingers)?,
        },
    })
}

/// An `UpdateDemographics` call.
pub fn update_demographics_call(request: v1::UpdateDemographicsRequest) -> Result<EnrolmentCall> {
    let v1::UpdateDemographicsRequest {
        context,
        resident,
        demographics: wire_demographics,
    } = request;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        action: EnrolmentAction::UpdateDemographics {
            demographics: wire_demographics.unwrap_or_default().try_into()?,
        },
    })
}

/// A `Deactivate` call.
pub fn deactivate_call(request: v1::DeactivateRequest) -> Result<EnrolmentCall> {
    let v1::DeactivateRequest { context, resident } = request;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        action: EnrolmentAction::Deactivate,
    })
}

/// A `LockBiometrics` call.
pub fn lock_call(request: v1::LockRequest) -> Result<EnrolmentCall> {
    let v1::LockRequest { context, resident } = request;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        action: EnrolmentAction::LockBiometrics,
    })
}

/// An `UnlockBiometrics` call; the unlock lapses `unlock_seconds` after the request
/// timestamp (never when 0).
pub fn unlock_call(request: v1::UnlockRequest) -> Result<EnrolmentCall> {
    let v1::UnlockRequest {
        context,
        resident,
        unlock_seconds,
    } = request;
    let context = enrolment_context(context)?;
    let until_ms = (unlock_seconds != 0)
        .then(|| context.timestamp_ms.unwrap_or(0) + i64::from(unlock_seconds) * 1000);
    Ok(EnrolmentCall {
        context,
        resident: resident_id(resident)?,
        action: EnrolmentAction::UnlockBiometrics { until_ms },
    })
}

/// A `Verify` call. The txn is returned with any error so the response can echo it.
pub fn verify_call(
    request: v1::VerifyRequest,
) -> std::result::Result<VerifyCall, (String, ConvertError)> {
    let v1::VerifyRequest {
        txn,
        timestamp,
        consent,
        resident,
        fingers: wire_fingers,
        demographics: wire_query,
        device_id,
        envelope,
    } = request;
    let parts = (|| {
        unopened(envelope.as_ref())?;
        Ok((
            resident_id(resident)?,
            fingers(wire_fingers)?,
            DemographicQuery::try_from(wire_query.unwrap_or_default())?,
        ))
    })();
    match parts {
        Ok((resident, fingers, demographics)) => Ok(VerifyCall {
            txn,
            timestamp_ms: timestamp_ms(timestamp),
            consent,
            resident,
            fingers,
            demographics,
            device_id,
        }),
        Err(error) => Err((txn, error)),
    }
}

/// The wire answer to a verify.
pub fn verify_response(
    txn: String,
    outcome: &VerifyOutcome,
    token: String,
    now_ms: i64,
) -> v1::VerifyResponse {
    let VerifyOutcome {
        matched,
        reference,
        factors,
        error,
    } = outcome;
    let decision = if *matched {
        v1::Decision::Match
    } else {
        v1::Decision::NoMatch
    };
    v1::VerifyResponse {
        txn,
        decision: decision.into(),
        reference: reference.clone(),
        factors: factors.iter().map(v1::FactorResult::from).collect(),
        error: error.map(v1::Error::from),
        timestamp: Some(timestamp(now_ms)),
        token,
        // Signed by the gateway once the response is complete.
        receipt: Vec::new(),
    }
}
