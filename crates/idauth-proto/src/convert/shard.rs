//! The shard API's commands and outcomes.

use idauth_core::FactorResult;

use super::*;

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

pub(super) fn storage_key(key: &[u8]) -> Result<StorageKey> {
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
            fingers: fingers.samples().map(internal::Finger::from).collect(),
            demographics: Some(demographics.into()),
            record_keys,
        }),
        WriteCommand::UpdateBiometrics { fingers } => {
            ShardWrite::UpdateBiometrics(internal::UpdateBiometricsCommand {
                context,
                key,
                fingers: fingers.samples().map(internal::Finger::from).collect(),
                record_keys,
            })
        }
        WriteCommand::UpdateDemographics { demographics } => {
            ShardWrite::UpdateDemographics(internal::UpdateDemographicsCommand {
                context,
                key,
                demographics: Some(demographics.into()),
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
                fingers: shard_values::checked_fingers(wire_fingers, FingerUse::Enrolment)?,
                demographics: wire_demographics.unwrap_or_default().try_into()?,
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
                fingers: shard_values::checked_fingers(wire_fingers, FingerUse::Enrolment)?,
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
                demographics: wire_demographics.unwrap_or_default().try_into()?,
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
        fingers: fingers.samples().map(internal::Finger::from).collect(),
        demographics: Some(demographics.into()),
        caller_id: caller_id.clone(),
        txn: txn.as_str().to_owned(),
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
        txn: Txn::new(txn).map_err(core_invalid)?,
        timestamp_ms,
        key: storage_key(&key)?,
        keys: record_keys(wire_keys)?,
        fingers: shard_values::checked_fingers(wire_fingers, FingerUse::Probe)?,
        demographics: demographics.unwrap_or_default().try_into()?,
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
        factors: factors.iter().map(internal::FactorResult::from).collect(),
        error: error.map(internal::Error::from),
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
        factors: factors
            .iter()
            .filter_map(|f| FactorResult::try_from(f).ok())
            .collect(),
        // An error code this gateway's catalogue lacks still means "no match".
        error: error
            .as_ref()
            .map(|e| ErrorCode::try_from(e).unwrap_or(ErrorCode::Internal)),
    }
}
