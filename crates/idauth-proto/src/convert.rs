//! Every conversion between wire messages and domain types, in one place.
//!
//! Messages are destructured without `..`, so a field added to a proto fails to compile
//! here until it is handled. Inbound conversions check shape only (types, enums,
//! required fields); limits and policy belong to the gateway's validation.

use idauth_core::command::ShardReport;
use idauth_core::command::{
    VerifyOutcome, VerifyRequest, WriteCommand, WriteContext, WriteOutcome, WriteRequest,
};
use idauth_core::{
    Address, DemographicQuery, Demographics, ErrorCode, Factor, FactorResult, FingerPosition,
    FingerSample, IdentifierType, NameMatch, RecordKey, RecordKeys, ResidentId, StorageKey,
    TemplateFormat,
};
use prost_types::Timestamp;

use crate::status::{code_of, error_message};
use crate::{internal, v1};

/// A message that cannot become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A field is missing or holds a value the domain does not have.
    #[error("{reason}")]
    Invalid {
        /// The catalogue code the caller sees.
        code: ErrorCode,
        /// Which field, in words (never the field's value).
        reason: &'static str,
    },
}

impl ConvertError {
    /// The catalogue code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } => *code,
        }
    }
}

fn invalid(code: ErrorCode, reason: &'static str) -> ConvertError {
    ConvertError::Invalid { code, reason }
}

type Result<T> = std::result::Result<T, ConvertError>;

// ---------------------------------------------------------------- shared pieces

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

// ---------------------------------------------------------------- public requests

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

/// The common part of an enrolment-side call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentContext {
    /// The enrolment centre.
    pub centre_id: String,
    /// The centre's request id.
    pub request_id: String,
    /// Request time, Unix milliseconds (`None` when absent).
    pub timestamp_ms: Option<i64>,
    /// Whether the resident consented.
    pub consent: bool,
}

/// An enrolment-side call in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCall {
    /// Idempotency context.
    pub context: EnrolmentContext,
    /// The resident.
    pub resident: ResidentId,
    /// The operation.
    pub command: WriteCommand,
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
        command: WriteCommand::Enrol {
            fingers: fingers(wire_fingers)?,
            demographics: demographics(wire_demographics),
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
        command: WriteCommand::UpdateBiometrics {
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
        command: WriteCommand::UpdateDemographics {
            demographics: demographics(wire_demographics),
        },
    })
}

/// A `Deactivate` call.
pub fn deactivate_call(request: v1::DeactivateRequest) -> Result<EnrolmentCall> {
    let v1::DeactivateRequest { context, resident } = request;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        command: WriteCommand::Deactivate,
    })
}

/// A `LockBiometrics` call.
pub fn lock_call(request: v1::LockRequest) -> Result<EnrolmentCall> {
    let v1::LockRequest { context, resident } = request;
    Ok(EnrolmentCall {
        context: enrolment_context(context)?,
        resident: resident_id(resident)?,
        command: WriteCommand::LockBiometrics,
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
        command: WriteCommand::UnlockBiometrics { until_ms },
    })
}

/// A `Verify` call in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyCall {
    /// The agency's transaction id.
    pub txn: String,
    /// Request time, Unix milliseconds (`None` when absent).
    pub timestamp_ms: Option<i64>,
    /// Whether the resident consented.
    pub consent: bool,
    /// The claimed resident.
    pub resident: ResidentId,
    /// Probe fingers.
    pub fingers: Vec<FingerSample>,
    /// Demographic attributes to check.
    pub demographics: DemographicQuery,
    /// The capture device.
    pub device_id: String,
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
            demographic_query(wire_query)?,
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
        factors: factors.iter().map(factor_result_to_wire).collect(),
        error: error.map(error_message),
        timestamp: Some(timestamp(now_ms)),
        token,
        // Signed by the gateway once the response is complete.
        receipt: Vec::new(),
    }
}

// ---------------------------------------------------------------- shard API

fn write_context_to_wire(context: &WriteContext) -> internal::WriteContext {
    let WriteContext {
        caller_id,
        token,
        centre_id,
        request_id,
        timestamp_ms,
    } = context;
    internal::WriteContext {
        centre_id: centre_id.clone(),
        request_id: request_id.clone(),
        timestamp_ms: *timestamp_ms,
        caller_id: caller_id.clone(),
        token: token.clone(),
    }
}

fn write_context(context: Option<internal::WriteContext>) -> Result<WriteContext> {
    let internal::WriteContext {
        centre_id,
        request_id,
        timestamp_ms,
        caller_id,
        token,
    } = context.ok_or(invalid(ErrorCode::BadRequest, "write context missing"))?;
    Ok(WriteContext {
        caller_id,
        token,
        centre_id,
        request_id,
        timestamp_ms,
    })
}

fn record_keys_to_wire(keys: &RecordKeys) -> Vec<internal::RecordKey> {
    keys.0
        .iter()
        .map(|k| internal::RecordKey {
            id: k.id,
            key: k.key.to_vec(),
        })
        .collect()
}

fn record_keys(keys: Vec<internal::RecordKey>) -> Result<RecordKeys> {
    let keys = keys
        .into_iter()
        .map(|internal::RecordKey { id, key }| {
            let key = <[u8; 32]>::try_from(key.as_slice())
                .map_err(|_| invalid(ErrorCode::BadRequest, "record key must be 32 bytes"))?;
            Ok(RecordKey { id, key })
        })
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(invalid(ErrorCode::BadRequest, "no record key"));
    }
    Ok(RecordKeys(keys))
}

fn storage_key(key: &[u8]) -> Result<StorageKey> {
    <[u8; 32]>::try_from(key)
        .map(StorageKey)
        .map_err(|_| invalid(ErrorCode::BadRequest, "storage key must be 32 bytes"))
}

/// A write as one of the shard API's messages.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardWrite {
    /// `Shard.Enrol`.
    Enrol(internal::EnrolCommand),
    /// `Shard.UpdateBiometrics`.
    UpdateBiometrics(internal::UpdateBiometricsCommand),
    /// `Shard.UpdateDemographics`.
    UpdateDemographics(internal::UpdateDemographicsCommand),
    /// `Shard.Deactivate`.
    Deactivate(internal::DeactivateCommand),
    /// `Shard.SetLock`.
    SetLock(internal::LockCommand),
}

/// The shard-API message for a write.
pub fn shard_write(request: &WriteRequest) -> ShardWrite {
    let WriteRequest {
        context,
        key,
        keys,
        command,
    } = request;
    let context = Some(write_context_to_wire(context));
    let key = key.0.to_vec();
    let record_keys = record_keys_to_wire(keys);
    match command {
        WriteCommand::Enrol {
            fingers,
            demographics,
        } => ShardWrite::Enrol(internal::EnrolCommand {
            context,
            key,
            fingers: fingers.iter().map(finger_to_wire).collect(),
            demographics: Some(demographics_to_wire(demographics)),
            record_keys,
        }),
        WriteCommand::UpdateBiometrics { fingers } => {
            ShardWrite::UpdateBiometrics(internal::UpdateBiometricsCommand {
                context,
                key,
                fingers: fingers.iter().map(finger_to_wire).collect(),
                record_keys,
            })
        }
        WriteCommand::UpdateDemographics { demographics } => {
            ShardWrite::UpdateDemographics(internal::UpdateDemographicsCommand {
                context,
                key,
                demographics: Some(demographics_to_wire(demographics)),
                record_keys,
            })
        }
        WriteCommand::Deactivate => ShardWrite::Deactivate(internal::DeactivateCommand {
            context,
            key,
            record_keys,
        }),
        WriteCommand::LockBiometrics => ShardWrite::SetLock(internal::LockCommand {
            context,
            key,
            unlock: false,
            unlock_until_ms: 0,
            record_keys,
        }),
        WriteCommand::UnlockBiometrics { until_ms } => ShardWrite::SetLock(internal::LockCommand {
            context,
            key,
            unlock: true,
            unlock_until_ms: until_ms.unwrap_or(0),
            record_keys,
        }),
    }
}

/// A write from the shard API.
pub fn write_request(message: ShardWrite) -> Result<WriteRequest> {
    let (context, key, wire_keys, command) = match message {
        ShardWrite::Enrol(internal::EnrolCommand {
            context,
            key,
            fingers: wire_fingers,
            demographics: wire_demographics,
            record_keys,
        }) => (
            context,
            key,
            record_keys,
            WriteCommand::Enrol {
                fingers: fingers(wire_fingers)?,
                demographics: demographics(wire_demographics),
            },
        ),
        ShardWrite::UpdateBiometrics(internal::UpdateBiometricsCommand {
            context,
            key,
            fingers: wire_fingers,
            record_keys,
        }) => (
            context,
            key,
            record_keys,
            WriteCommand::UpdateBiometrics {
                fingers: fingers(wire_fingers)?,
            },
        ),
        ShardWrite::UpdateDemographics(internal::UpdateDemographicsCommand {
            context,
            key,
            demographics: wire_demographics,
            record_keys,
        }) => (
            context,
            key,
            record_keys,
            WriteCommand::UpdateDemographics {
                demographics: demographics(wire_demographics),
            },
        ),
        ShardWrite::Deactivate(internal::DeactivateCommand {
            context,
            key,
            record_keys,
        }) => (context, key, record_keys, WriteCommand::Deactivate),
        ShardWrite::SetLock(internal::LockCommand {
            context,
            key,
            unlock,
            unlock_until_ms,
            record_keys,
        }) => {
            let command = if unlock {
                WriteCommand::UnlockBiometrics {
                    until_ms: (unlock_until_ms != 0).then_some(unlock_until_ms),
                }
            } else {
                WriteCommand::LockBiometrics
            };
            (context, key, record_keys, command)
        }
    };
    Ok(WriteRequest {
        context: write_context(context)?,
        key: storage_key(&key)?,
        keys: record_keys(wire_keys)?,
        command,
    })
}

/// The shard-API form of a write outcome.
pub fn write_outcome_to_wire(outcome: &WriteOutcome) -> internal::WriteOutcome {
    let WriteOutcome {
        reference,
        version,
        replayed,
    } = outcome;
    internal::WriteOutcome {
        reference: reference.clone(),
        version: *version,
        replayed: *replayed,
    }
}

/// A write outcome from the shard API.
pub fn write_outcome(outcome: internal::WriteOutcome) -> WriteOutcome {
    let internal::WriteOutcome {
        reference,
        version,
        replayed,
    } = outcome;
    WriteOutcome {
        reference,
        version,
        replayed,
    }
}

/// The shard-API form of a verify.
pub fn verify_command(request: &VerifyRequest) -> internal::VerifyCommand {
    let VerifyRequest {
        caller_id,
        token,
        txn,
        timestamp_ms,
        key,
        keys,
        fingers,
        demographics,
    } = request;
    internal::VerifyCommand {
        key: key.0.to_vec(),
        fingers: fingers.iter().map(finger_to_wire).collect(),
        demographics: Some(demographic_query_to_wire(demographics)),
        caller_id: caller_id.clone(),
        txn: txn.clone(),
        timestamp_ms: *timestamp_ms,
        record_keys: record_keys_to_wire(keys),
        token: token.clone(),
    }
}

/// A verify from the shard API.
pub fn verify_request(command: internal::VerifyCommand) -> Result<VerifyRequest> {
    let internal::VerifyCommand {
        key,
        fingers: wire_fingers,
        demographics,
        caller_id,
        txn,
        timestamp_ms,
        record_keys: wire_keys,
        token,
    } = command;
    Ok(VerifyRequest {
        caller_id,
        token,
        txn,
        timestamp_ms,
        key: storage_key(&key)?,
        keys: record_keys(wire_keys)?,
        fingers: fingers(wire_fingers)?,
        demographics: demographic_query(demographics)?,
    })
}

/// The shard-API form of a verify outcome.
pub fn verify_outcome_to_wire(outcome: &VerifyOutcome) -> internal::VerifyOutcome {
    let VerifyOutcome {
        matched,
        reference,
        factors,
        error,
    } = outcome;
    internal::VerifyOutcome {
        matched: *matched,
        reference: reference.clone(),
        factors: factors.iter().map(factor_result_to_wire).collect(),
        error: error.map(error_message),
    }
}

/// A verify outcome from the shard API.
pub fn verify_outcome(outcome: internal::VerifyOutcome) -> VerifyOutcome {
    let internal::VerifyOutcome {
        matched,
        reference,
        factors,
        error,
    } = outcome;
    VerifyOutcome {
        matched,
        reference,
        factors: factors.iter().filter_map(factor_result).collect(),
        // An error code this gateway's catalogue lacks still means "no match".
        error: error
            .as_ref()
            .map(|e| code_of(e).unwrap_or(ErrorCode::Internal)),
    }
}

/// The shard-API form of a status report.
pub fn status_report_to_wire(report: &ShardReport) -> internal::StatusReport {
    let ShardReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
    } = report;
    internal::StatusReport {
        shard_id: shard_id.clone(),
        residents: *residents,
        store_bytes: *store_bytes,
        kernel: kernel.clone(),
        threshold: *threshold,
        cache_entries: *cache_entries,
    }
}

/// A status report from the shard API.
pub fn status_report(report: internal::StatusReport) -> ShardReport {
    let internal::StatusReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
    } = report;
    ShardReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
    }
}

/// The public form of a shard's state.
pub fn shard_state(report: Option<&ShardReport>, shard_id: &str) -> v1::ShardState {
    match report {
        Some(ShardReport {
            shard_id,
            residents,
            store_bytes,
            kernel,
            threshold,
            cache_entries,
        }) => v1::ShardState {
            shard_id: shard_id.clone(),
            reachable: true,
            residents: *residents,
            store_bytes: *store_bytes,
            kernel: kernel.clone(),
            threshold: *threshold,
            cache_entries: *cache_entries,
        },
        None => v1::ShardState {
            shard_id: shard_id.to_owned(),
            reachable: false,
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_write() -> WriteRequest {
        WriteRequest {
            context: WriteContext {
                caller_id: "centre-1-key".into(),
                token: "tok".into(),
                centre_id: "centre-1".into(),
                request_id: "r-1".into(),
                timestamp_ms: 1_700_000_000_123,
            },
            key: StorageKey([7; 32]),
            keys: RecordKeys(vec![
                RecordKey {
                    id: 2,
                    key: [5; 32],
                },
                RecordKey {
                    id: 1,
                    key: [6; 32],
                },
            ]),
            command: WriteCommand::Enrol {
                fingers: vec![FingerSample {
                    position: FingerPosition::RightIndex,
                    format: TemplateFormat::Ansi378_2004,
                    template: vec![1, 2, 3],
                }],
                demographics: Demographics {
                    name: "A B".into(),
                    date_of_birth: "1990-01-02".into(),
                    gender: "F".into(),
                    address: Address {
                        locality: "Pune".into(),
                        ..Address::default()
                    },
                },
            },
        }
    }

    #[test]
    fn writes_round_trip_through_the_shard_api() {
        let write = sample_write();
        assert_eq!(write_request(shard_write(&write)).unwrap(), write);
        for command in [
            WriteCommand::Deactivate,
            WriteCommand::LockBiometrics,
            WriteCommand::UnlockBiometrics { until_ms: None },
            WriteCommand::UnlockBiometrics { until_ms: Some(77) },
            WriteCommand::UpdateDemographics {
                demographics: Demographics::default(),
            },
            WriteCommand::UpdateBiometrics { fingers: vec![] },
        ] {
            let write = WriteRequest {
                command,
                ..sample_write()
            };
            assert_eq!(write_request(shard_write(&write)).unwrap(), write);
        }
    }

    #[test]
    fn verifies_and_outcomes_round_trip() {
        let request = VerifyRequest {
            caller_id: "agency".into(),
            token: "tok".into(),
            txn: "t-1".into(),
            timestamp_ms: 123,
            key: StorageKey([9; 32]),
            keys: RecordKeys(vec![RecordKey {
                id: 1,
                key: [3; 32],
            }]),
            fingers: vec![],
            demographics: DemographicQuery {
                name: "x".into(),
                name_match: NameMatch::Partial,
                ..DemographicQuery::default()
            },
        };
        assert_eq!(verify_request(verify_command(&request)).unwrap(), request);
        let outcome = VerifyOutcome {
            matched: false,
            reference: "ref".into(),
            factors: vec![FactorResult {
                factor: Factor::Name,
                matched: false,
            }],
            error: Some(ErrorCode::DemographicMismatch),
        };
        assert_eq!(verify_outcome(verify_outcome_to_wire(&outcome)), outcome);
    }

    #[test]
    fn timestamps_round_trip_including_before_1970() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(timestamp_ms(Some(timestamp(ms))), Some(ms));
        }
    }

    #[test]
    fn bad_shapes_name_their_code() {
        let err = resident_id(None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidIdentifier);
        let err = finger(v1::Finger {
            position: 11,
            format: 1,
            template: vec![],
        })
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidFingerPosition);
        let err = finger(v1::Finger {
            position: 1,
            format: 0,
            template: vec![],
        })
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsupportedTemplateFormat);
    }
}
