//! Conversions of the values both APIs carry: fingers, demographics, factors, errors
//! and a shard's operating figures. The public `idauth.v1` and the shard API's
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

        use super::super::{Result, core_invalid, invalid};
        use crate::$wire as wire;

        /// One finger from the wire (position and format checked, bytes not yet parsed).
        pub fn finger(finger: wire::Finger) -> Result<FingerSample> {
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

        /// Every finger of a request, in order.
        pub fn fingers(fingers: Vec<wire::Finger>) -> Result<Vec<FingerSample>> {
            fingers.into_iter().map(finger).collect()
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
        pub fn finger_to_wire(sample: &FingerSample) -> wire::Finger {
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

        /// An address from the wire (absent: all fields empty).
        pub fn address(address: Option<wire::Address>) -> Address {
            let wire::Address {
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

        /// The wire form of an address.
        pub fn address_to_wire(address: &Address) -> wire::Address {
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

        /// Demographics from the wire (date of birth and gender checked); a missing
        /// message is all fields empty.
        pub fn demographics(demographics: Option<wire::Demographics>) -> Result<Demographics> {
            let wire::Demographics {
                name,
                date_of_birth,
                gender,
                address: wire_address,
            } = demographics.unwrap_or_default();
            Ok(Demographics {
                name,
                date_of_birth: DateOfBirth::new(date_of_birth).map_err(core_invalid)?,
                gender: Gender::new(gender).map_err(core_invalid)?,
                address: address(wire_address),
            })
        }

        /// The wire form of demographics.
        pub fn demographics_to_wire(demographics: &Demographics) -> wire::Demographics {
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
                address: Some(address_to_wire(address)),
            }
        }

        /// A demographic query from the wire; a missing message checks nothing.
        pub fn demographic_query(
            query: Option<wire::DemographicQuery>,
        ) -> Result<DemographicQuery> {
            let wire::DemographicQuery {
                name,
                name_match,
                date_of_birth,
                gender,
                address: wire_address,
            } = query.unwrap_or_default();
            let name_match = match wire::NameMatch::try_from(name_match) {
                Ok(wire::NameMatch::Exact) => NameMatch::Exact,
                Ok(wire::NameMatch::Partial) => NameMatch::Partial,
                Err(_) => return Err(invalid(ErrorCode::BadRequest, "unknown name match mode")),
            };
            Ok(DemographicQuery {
                name,
                name_match,
                date_of_birth: DateOfBirth::new(date_of_birth).map_err(core_invalid)?,
                gender: Gender::new(gender).map_err(core_invalid)?,
                address: address(wire_address),
            })
        }

        /// The wire form of a demographic query.
        pub fn demographic_query_to_wire(query: &DemographicQuery) -> wire::DemographicQuery {
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
                address: Some(address_to_wire(address)),
            }
        }

        /// The wire form of a factor.
        pub fn factor_to_wire(factor: Factor) -> wire::Factor {
            match factor {
                Factor::Fingerprint => wire::Factor::Fingerprint,
                Factor::Name => wire::Factor::Name,
                Factor::DateOfBirth => wire::Factor::DateOfBirth,
                Factor::Gender => wire::Factor::Gender,
                Factor::Address => wire::Factor::Address,
            }
        }

        /// The wire form of a factor result.
        pub fn factor_result_to_wire(result: &FactorResult) -> wire::FactorResult {
            let FactorResult { factor, matched } = *result;
            wire::FactorResult {
                factor: factor_to_wire(factor).into(),
                matched,
            }
        }

        /// A factor result from the wire (`None` for a factor this build does not know).
        pub fn factor_result(result: &wire::FactorResult) -> Option<FactorResult> {
            let wire::FactorResult { factor, matched } = *result;
            let factor = match wire::Factor::try_from(factor).ok()? {
                wire::Factor::Fingerprint => Factor::Fingerprint,
                wire::Factor::Name => Factor::Name,
                wire::Factor::DateOfBirth => Factor::DateOfBirth,
                wire::Factor::Gender => Factor::Gender,
                wire::Factor::Address => Factor::Address,
                wire::Factor::Unspecified => return None,
            };
            Some(FactorResult { factor, matched })
        }

        /// The wire form of an error code.
        pub fn error_message(code: ErrorCode) -> wire::Error {
            wire::Error {
                code: u32::from(code.number()),
                name: code.name().to_owned(),
                family: code.family().name().to_owned(),
                action_hint: code.action_hint().to_owned(),
            }
        }

        /// The code a wire error names, if it is in this build's catalogue.
        pub fn code_of(error: &wire::Error) -> Option<ErrorCode> {
            u16::try_from(error.code)
                .ok()
                .and_then(ErrorCode::from_number)
        }

        /// The wire form of stage times.
        pub fn stage_time_to_wire(stage: &StageTime) -> wire::StageTime {
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

        /// Stage times from the wire.
        pub fn stage_time(stage: wire::StageTime) -> StageTime {
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

        /// The wire form of a shard's operating figures.
        pub fn metrics_to_wire(metrics: &ShardMetricsSnapshot) -> wire::ShardMetrics {
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
                stages: stages.iter().map(stage_time_to_wire).collect(),
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

        /// A shard's operating figures from the wire (absent: all zero).
        pub fn metrics(metrics: Option<wire::ShardMetrics>) -> ShardMetricsSnapshot {
            let wire::ShardMetrics {
                verify_latency,
                stages,
                outcomes,
                queue_depth,
                cache_hits,
                cache_misses,
            } = metrics.unwrap_or_default();
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
                stages: stages.into_iter().map(stage_time).collect(),
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
