//! What the load generator sends: genuine and impostor verifies of enrolled synthetic
//! residents, and enrolments of new ones, built from the population's seed.

use idauth_match::synthetic::SeededRng;
use idauth_match::synthetic::population::{Population, SyntheticResident};
use idauth_proto::v1;

use crate::cli::IdTypeArg;
use idauth_client::{ServiceKeys, fresh_id, now};

/// The kinds of request, for per-operation figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A verify by a resident's own fingers.
    Genuine,
    /// A verify with another resident's fingers.
    Impostor,
    /// A new resident.
    Enrol,
    /// The bare-transport baseline.
    Echo,
}

impl Kind {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Genuine => "verify_genuine",
            Self::Impostor => "verify_impostor",
            Self::Enrol => "enrol",
            Self::Echo => "echo",
        }
    }
}

/// A probe ready to send, before its envelope.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The claimed resident.
    pub claimed: v1::Identifier,
    /// The fingers.
    pub fingers: Vec<v1::Finger>,
}

/// The wire identifier of a synthetic resident.
pub fn identifier(resident: &SyntheticResident) -> v1::Identifier {
    crate::client::request::identifier_of(&resident.id, IdTypeArg::National)
        .expect("synthetic ids are 12 digits")
}

/// Finger `finger` (0..10) of a record, as the wire carries it.
pub fn wire_finger(finger: usize, template: Vec<u8>) -> v1::Finger {
    v1::Finger {
        position: finger as u32 + 1,
        format: v1::TemplateFormat::Iso1979422005.into(),
        template,
    }
}

/// How many fingers a probe carries, and how many each resident enrolled (positions
/// `0..enrolled`, as `idauth synth --fingers` enrols them).
#[derive(Debug, Clone, Copy)]
pub struct Fingers {
    /// Fingers per probe.
    pub probe: usize,
    /// Fingers enrolled per resident, at least `probe`.
    pub enrolled: usize,
}

/// A genuine (or, with `impostor`, someone else's) probe of `fingers.probe` enrolled
/// fingers against a random resident below `residents`.
pub fn probe(
    population: &Population,
    residents: u64,
    fingers: Fingers,
    impostor: bool,
    rng: &mut SeededRng,
) -> Probe {
    let claimed_index = rng.next_u64() % residents;
    let claimed = population.resident(claimed_index);
    let source = if impostor && residents > 1 {
        let other = (claimed_index + 1 + rng.next_u64() % (residents - 1)) % residents;
        population.resident(other)
    } else {
        claimed.clone()
    };
    let first = (rng.next_u64() % fingers.enrolled as u64) as usize;
    let attempt = rng.next_u64();
    let fingers = (0..fingers.probe)
        .map(|k| {
            let finger = (first + k) % fingers.enrolled;
            wire_finger(finger, source.probe_record(finger, attempt))
        })
        .collect();
    Probe {
        claimed: identifier(&claimed),
        fingers,
    }
}

/// A verify request for `probe`, its fingers sealed to `keys` unless `plain`.
pub fn verify_request(
    probe: Probe,
    keys: &ServiceKeys,
    plain: bool,
) -> anyhow::Result<v1::VerifyRequest> {
    let txn = fresh_id("bench");
    let timestamp = now();
    let (fingers, envelope) = if plain {
        (probe.fingers, None)
    } else {
        (Vec::new(), keys.seal(probe.fingers, &txn, &timestamp)?)
    };
    Ok(v1::VerifyRequest {
        txn,
        timestamp: Some(timestamp),
        consent: true,
        resident: Some(probe.claimed),
        fingers,
        demographics: None,
        device_id: "idauth-bench".into(),
        envelope,
    })
}

/// The enrolment of population resident `index` with its first `fingers` fingers,
/// request id derived from the index so that a rerun replays.
pub fn enrol_request(
    population: &Population,
    index: u64,
    fingers: usize,
    centre: &str,
    keys: &ServiceKeys,
    plain: bool,
) -> anyhow::Result<v1::EnrolRequest> {
    let resident = population.resident(index);
    let request_id = format!("synth-{}", resident.id);
    let timestamp = now();
    let records: Vec<v1::Finger> = (0..fingers)
        .map(|finger| wire_finger(finger, resident.enrolment_record(finger)))
        .collect();
    let (fingers, envelope) = if plain {
        (records, None)
    } else {
        (Vec::new(), keys.seal(records, &request_id, &timestamp)?)
    };
    Ok(v1::EnrolRequest {
        context: Some(v1::EnrolmentContext {
            centre_id: centre.into(),
            request_id,
            timestamp: Some(timestamp),
            consent: true,
        }),
        resident: Some(identifier(&resident)),
        fingers,
        demographics: Some((&resident.demographics).into()),
        envelope,
    })
}
