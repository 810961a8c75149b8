//! Conversions of the values both APIs carry: fingers, demographics, factors, errors
//! and a shard's operating figures, as `From` (always succeeds) and `TryFrom` (the
//! message may not make a domain value) impls. The public `idauth.v1` and the shard API's
//! `idauth.internal.v1` each have their own messages for these, so that a public
//! change does not change the shard wire format; one macro writes the conversions of
//! both, so that the two cannot drift apart.

/// The conversions for the messages of package module `$wire`.
macro_rules! value_conversions {
    ($wire:ident) => {
        use idauth_core::checked::check_finger_set;
        use idauth_core::command::{LatencyBuckets, OutcomeCount, ShardMetricsSnapshot, StageTime};
        use idauth_core::{
            Address, CheckedFingers, DateOfBirth, DemographicQuery, Demographics, ErrorCode,
            Factor, FactorResult, FingerPosition, FingerSample, FingerUse, Gender, NameMatch,
            TemplateFormat,
        };

        use super::super::{ConvertError, Result, core_invalid, invalid};
        use crate::$wire as wire;

        /// One finger from the wire (position and format checked, bytes not yet parsed).
        impl TryFrom<wire::Finger> for FingerSample {
            type Error = ConvertError;

            fn try_from(finger: wire::Finger) -> Result<Self> {
                let wire::Finger {
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
                let format = match wire::TemplateFormat::try_from(format) {
                    Ok(wire::TemplateFormat::Iso1979422005) => TemplateFormat::Iso19794_2_2005,
                    Ok(wire::TemplateFormat::Ansi3782004) => TemplateFormat::Ansi378_2004,
                    Ok(wire::TemplateFormat::Unspecified) | Err(_) => {
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
        }

        /// Every finger of a request, in order.
        pub fn fingers(fingers: Vec<wire::Finger>) -> Result<Vec<FingerSample>> {
            fingers.into_iter().map(FingerSample::try_from).collect()
        }

        /// Every finger of a shard command, decoded once and checked as a set for `usage`.
        /// The gateway checked them already; a shard reached over the wire cannot know that,
        /// and needs the minutiae anyway.
        pub fn checked_fingers(
            wire: Vec<wire::Finger>,
            usage: FingerUse,
        ) -> Result<CheckedFingers> {
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
        impl From<&FingerSample> for wire::Finger {
            fn from(sample: &FingerSample) -> Self {
                let FingerSample {
                    position,
                    format,
                    template,
                } = sample;
                let format = match format {
                    TemplateFormat::Iso19794_2_2005 => wire::TemplateFormat::Iso1979422005,
                    TemplateFormat::Ansi378_2004 => wire::TemplateFormat::Ansi3782004,
                };
                wire::Finger {
                    position: u32::from(position.code()),
                    format: format.into(),
                    template: template.clone(),
                }
            }
        }

        /// An address from the wire.
        impl From<wire::Address> for Address {
            fn from(address: wire::Address) -> Self {
                let wire::Address {
                    line,
                    locality,
                    district,
                    state,
                    postal_code,
                } = address;
                Address {
                    line,
                    locality,
                    district,
                    state,
                    postal_code,
                }
            }
        }

        /// The wire form of an address.
        impl From<&Address> for wire::Address {
            fn from(address: &Address) -> Self {
                let Address {
                    line,
                    locality,
                    district,
                    state,
                    postal_code,
                } = address.clone();
                wire::Address {
                    line,
                    locality,
                    district,
                    state,
                    postal_code,
                }
            }
        }

        /// Demographics from the wire (date of birth and gender checked).
        impl TryFrom<wire::Demographics> for Demographics {
            type Error = ConvertError;

            fn try_from(demographics: wire::Demographics) -> Result<Self> {
                let wire::Demographics {
                    name,
                    date_of_birth,
                    gender,
                    address,
                } = demographics;
                Ok(Demographics {
                    name,
                    date_of_birth: DateOfBirth::new(date_of_birth).map_err(core_invalid)?,
                    gender: Gender::new(gender).map_err(core_invalid)?,
                    address: address.unwrap_or_default().into(),
                })
            }
        }

        /// The wire form of demographics.
        impl From<&Demographics> for wire::Demographics {
            fn from(demographics: &Demographics) -> Self {
                let Demographics {
                    name,
                    date_of_birth,
                    gender,
                    address,
                } = demographics;
                wire::Demographics {
                    name: name.clone(),
                    date_of_birth: date_of_birth.as_str().to_owned(),
                    gender: gender.as_str().to_owned(),
                    address: Some(address.into()),
                }
            }
        }

        /// A demographic query from the wire.
        impl TryFrom<wire::DemographicQuery> for DemographicQuery {
            type Error = ConvertError;

            fn try_from(query: wire::DemographicQuery) -> Result<Self> {
                let wire::DemographicQuery {
                    name,
                    name_match,
                    date_of_birth,
                    gender,
                    address,
                } = query;
                let name_match = match wire::NameMatch::try_from(name_match) {
                    Ok(wire::NameMatch::Exact) => NameMatch::Exact,
                    Ok(wire::NameMatch::Partial) => NameMatch::Partial,
                    Err(_) => {
                        return Err(invalid(ErrorCode::BadRequest, "unknown name match mode"));
                    }
                };
                Ok(DemographicQuery {
                    name,
                    name_match,
                    date_of_birth: DateOfBirth::new(date_of_birth).map_err(core_invalid)?,
                    gender: Gender::new(gender).map_err(core_invalid)?,
                    address: address.unwrap_or_default().into(),
                })
            }
        }

        /// The wire form of a demographic query.
        impl From<&DemographicQuery> for wire::DemographicQuery {
            fn from(query: &DemographicQuery) -> Self {
                let DemographicQuery {
                    name,
                    name_match,
                    date_of_birth,
                    gender,
                    address,
                } = query;
                let name_match = match name_match {
                    NameMatch::Exact => wire::NameMatch::Exact,
                    NameMatch::Partial => wire::NameMatch::Partial,
                };
                wire::DemographicQuery {
                    name: name.clone(),
                    name_match: name_match.into(),
                    date_of_birth: date_of_birth.as_str().to_owned(),
                    gender: gender.as_str().to_owned(),
                    address: Some(address.into()),
                }
            }
        }

        /// The wire form of a factor.
        impl From<Factor> for wire::Factor {
            fn from(factor: Factor) -> Self {
                match factor {
                    Factor::Fingerprint => wire::Factor::Fingerprint,
                    Factor::Name => wire::Factor::Name,
                    Factor::DateOfBirth => wire::Factor::DateOfBirth,
                    Factor::Gender => wire::Factor::Gender,
                    Factor::Address => wire::Factor::Address,
                }
            }
        }

        /// The wire form of a factor result.
        impl From<&FactorResult> for wire::FactorResult {
            fn from(result: &FactorResult) -> Self {
                let FactorResult { factor, matched } = *result;
                wire::FactorResult {
                    factor: wire::Factor::from(factor).into(),
                    matched,
                }
            }
        }

        /// A factor result from the wire; a factor this build does not know is an error.
        impl TryFrom<&wire::FactorResult> for FactorResult {
            type Error = ConvertError;

            fn try_from(result: &wire::FactorResult) -> Result<Self> {
                let wire::FactorResult { factor, matched } = *result;
                let factor = match wire::Factor::try_from(factor) {
                    Ok(wire::Factor::Fingerprint) => Factor::Fingerprint,
                    Ok(wire::Factor::Name) => Factor::Name,
                    Ok(wire::Factor::DateOfBirth) => Factor::DateOfBirth,
                    Ok(wire::Factor::Gender) => Factor::Gender,
                    Ok(wire::Factor::Address) => Factor::Address,
                    Ok(wire::Factor::Unspecified) | Err(_) => {
                        return Err(invalid(ErrorCode::BadRequest, "unknown factor"));
                    }
                };
                Ok(FactorResult { factor, matched })
            }
        }

        /// The wire form of an error code.
        impl From<ErrorCode> for wire::Error {
            fn from(code: ErrorCode) -> Self {
                wire::Error {
                    code: u32::from(code.number()),
                    name: code.name().to_owned(),
                    family: code.family().name().to_owned(),
                    action_hint: code.action_hint().to_owned(),
                }
            }
        }

        /// The code a wire error names, if it is in this build's catalogue.
        impl TryFrom<&wire::Error> for ErrorCode {
            type Error = ConvertError;

            fn try_from(error: &wire::Error) -> Result<Self> {
                u16::try_from(error.code)
                    .ok()
                    .and_then(ErrorCode::from_number)
                    .ok_or(invalid(
                        ErrorCode::Internal,
                        "error code not in this build's catalogue",
                    ))
            }
        }

        /// The wire form of stage times.
        impl From<&StageTime> for wire::StageTime {
            fn from(stage: &StageTime) -> Self {
                let StageTime {
                    stage,
                    total_ns,
                    count,
                } = stage;
                wire::StageTime {
                    stage: stage.clone(),
                    total_ns: *total_ns,
                    count: *count,
                }
            }
        }

        /// Stage times from the wire.
        impl From<wire::StageTime> for StageTime {
            fn from(stage: wire::StageTime) -> Self {
                let wire::StageTime {
                    stage,
                    total_ns,
                    count,
                } = stage;
                StageTime {
                    stage,
                    total_ns,
                    count,
                }
            }
        }

        /// The wire form of a shard's operating figures.
        impl From<&ShardMetricsSnapshot> for wire::ShardMetrics {
            fn from(metrics: &ShardMetricsSnapshot) -> Self {
                let ShardMetricsSnapshot {
                    verify_latency,
                    stages,
                    outcomes,
                    queue_depth,
                    cache_hits,
                    cache_misses,
                } = metrics;
                let LatencyBuckets {
                    bounds_us,
                    counts,
                    sum_us,
                } = verify_latency;
                wire::ShardMetrics {
                    verify_latency: Some(wire::LatencyBuckets {
                        bounds_us: bounds_us.clone(),
                        counts: counts.clone(),
                        sum_us: *sum_us,
                    }),
                    stages: stages.iter().map(wire::StageTime::from).collect(),
                    outcomes: outcomes
                        .iter()
                        .map(|o| {
                            let OutcomeCount {
                                operation,
                                code,
                                count,
                            } = o;
                            wire::OutcomeCount {
                                operation: operation.clone(),
                                code: u32::from(*code),
                                count: *count,
                            }
                        })
                        .collect(),
                    queue_depth: *queue_depth,
                    cache_hits: *cache_hits,
                    cache_misses: *cache_misses,
                }
            }
        }

        /// A shard's operating figures from the wire.
        impl From<wire::ShardMetrics> for ShardMetricsSnapshot {
            fn from(metrics: wire::ShardMetrics) -> Self {
                let wire::ShardMetrics {
                    verify_latency,
                    stages,
                    outcomes,
                    queue_depth,
                    cache_hits,
                    cache_misses,
                } = metrics;
                let wire::LatencyBuckets {
                    bounds_us,
                    counts,
                    sum_us,
                } = verify_latency.unwrap_or_default();
                ShardMetricsSnapshot {
                    verify_latency: LatencyBuckets {
                        bounds_us,
                        counts,
                        sum_us,
                    },
                    stages: stages.into_iter().map(StageTime::from).collect(),
                    outcomes: outcomes
                        .into_iter()
                        .map(|o| {
                            let wire::OutcomeCount {
                                operation,
                                code,
                                count,
                            } = o;
                            OutcomeCount {
                                operation,
                                code: u16::try_from(code).unwrap_or(u16::MAX),
                                count,
                            }
                        })
                        .collect(),
                    queue_depth,
                    cache_hits,
                    cache_misses,
                }
            }
        }
    };
}

/// The public API's values (`idauth.v1`).
pub mod public_values {
    value_conversions!(v1);
}

/// The shard API's values (`idauth.internal.v1`).
pub mod shard_values {
    value_conversions!(internal);
}
