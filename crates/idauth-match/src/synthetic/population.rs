//! A synthetic population: residents with ten fingers and demographics, and genuine
//! probes of them, every one a pure function of (seed, index) so that an enrolment
//! run and a benchmark run started apart agree on who exists without sharing a file.
//!
//! Minutiae counts follow what MINDTCT finds on 500 ppi plain impressions (FVC2002:
//! mean about 40, most between 20 and 70); a probe is another impression of the same
//! finger (turned up to ±17°, shifted up to 25 px, jittered, 12 % of minutiae lost and
//! 8 % spurious ones added).

use idauth_core::{Address, Demographics, FingerPosition};

use super::{SeededRng, SyntheticFinger, iso_record};

/// The ten finger positions, in ISO/IEC 19794-2 order.
pub const POSITIONS: [FingerPosition; 10] = [
    FingerPosition::RightThumb,
    FingerPosition::RightIndex,
    FingerPosition::RightMiddle,
    FingerPosition::RightRing,
    FingerPosition::RightLittle,
    FingerPosition::LeftThumb,
    FingerPosition::LeftIndex,
    FingerPosition::LeftMiddle,
    FingerPosition::LeftRing,
    FingerPosition::LeftLittle,
];

const GIVEN: [&str; 16] = [
    "Asha", "Bala", "Chitra", "Deepak", "Esther", "Farid", "Gita", "Hari", "Imran", "Jaya",
    "Kiran", "Lakshmi", "Mohan", "Nisha", "Omar", "Priya",
];
const FAMILY: [&str; 12] = [
    "Rao", "Singh", "Das", "Iyer", "Khan", "Patel", "Nair", "Reddy", "Bose", "Gupta", "Joshi",
    "Menon",
];
const PLACES: [(&str, &str, &str); 6] = [
    ("Ward 4", "Pune", "Maharashtra"),
    ("Old Town", "Mysuru", "Karnataka"),
    ("Market Road", "Kochi", "Kerala"),
    ("Station Road", "Patna", "Bihar"),
    ("Lake View", "Bhopal", "Madhya Pradesh"),
    ("Temple Street", "Madurai", "Tamil Nadu"),
];

/// Residents drawn from one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    seed: u64,
}

/// One synthetic resident.
#[derive(Debug, Clone)]
pub struct SyntheticResident {
    /// The national id: 12 digits, unique within the population.
    pub id: String,
    /// Ten fingers, in [`POSITIONS`] order.
    pub fingers: Vec<SyntheticFinger>,
    /// Name, date of birth, gender and address.
    pub demographics: Demographics,
    /// Seeds captures of this resident.
    capture_seed: u64,
}

impl Population {
    /// The population of `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// Resident number `index` (ids stay unique for up to 10^9 residents).
    pub fn resident(&self, index: u64) -> SyntheticResident {
        let mut rng = SeededRng::new(self.seed ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
        let fingers = POSITIONS
            .iter()
            .map(|&position| {
                let count = (42.0 + 11.0 * rng.normal()).clamp(18.0, 80.0) as usize;
                SyntheticFinger::new(&mut rng, position, count)
            })
            .collect();
        let pick = |rng: &mut SeededRng, n: usize| (rng.next_u64() % n as u64) as usize;
        let name = format!(
            "{} {}",
            GIVEN[pick(&mut rng, GIVEN.len())],
            FAMILY[pick(&mut rng, FAMILY.len())]
        );
        let (line, locality, state) = PLACES[pick(&mut rng, PLACES.len())];
        let gender = match pick(&mut rng, 100) {
            0 => "T",
            1..=49 => "F",
            _ => "M",
        };
        let demographics = Demographics {
            name,
            date_of_birth: idauth_core::DateOfBirth::new(format!(
                "{}-{:02}-{:02}",
                1940 + pick(&mut rng, 68),
                1 + pick(&mut rng, 12),
                1 + pick(&mut rng, 28)
            ))
            .expect("years 1940-2007, months 1-12, days 1-28 make valid dates"),
            gender: idauth_core::Gender::new(gender).expect("T, F and M are genders"),
            address: Address {
                line: format!("{} {line}", 1 + pick(&mut rng, 300)),
                locality: locality.into(),
                district: locality.into(),
                state: state.into(),
                postal_code: format!("{}", 110_000 + pick(&mut rng, 800_000)),
            },
        };
        SyntheticResident {
            id: format!("9{:02}{index:09}", self.seed % 100),
            fingers,
            demographics,
            capture_seed: rng.next_u64(),
        }
    }
}

impl SyntheticResident {
    /// The ISO/IEC 19794-2 record enrolled for finger `finger` (0..10).
    pub fn enrolment_record(&self, finger: usize) -> Vec<u8> {
        iso_record(&self.fingers[finger].impression(self.capture_seed ^ finger as u64))
    }

    /// A later capture of finger `finger`: a genuine probe; each `attempt` differs.
    pub fn probe_record(&self, finger: usize, attempt: u64) -> Vec<u8> {
        let seed =
            self.capture_seed ^ (finger as u64) ^ attempt.wrapping_add(1).wrapping_mul(0x9e37_79b9);
        iso_record(&self.fingers[finger].impression(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FingerTemplate, Matcher, MccParams, parse};

    #[test]
    fn residents_are_reproducible_distinct_and_their_probes_match() {
        let population = Population::new(5);
        let (a, b) = (population.resident(1), population.resident(2));
        assert_eq!(a.id, population.resident(1).id);
        assert_eq!(a.demographics, population.resident(1).demographics);
        assert_eq!(
            a.enrolment_record(3),
            population.resident(1).enrolment_record(3)
        );
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 12);
        let params = MccParams::default();
        let mut matcher = Matcher::new(params.clone());
        let template =
            |bytes: Vec<u8>| FingerTemplate::new(&parse(&bytes).unwrap().fingers()[0], &params);
        let enrolled = template(a.enrolment_record(1));
        let genuine = matcher.compare(&template(a.probe_record(1, 0)), &enrolled);
        let impostor = matcher.compare(&template(b.probe_record(1, 0)), &enrolled);
        assert!(
            genuine > impostor,
            "genuine {genuine} <= impostor {impostor}"
        );
        assert_ne!(a.probe_record(1, 0), a.probe_record(1, 1));
        assert_eq!(
            parse(&a.enrolment_record(9)).unwrap().fingers()[0].position,
            FingerPosition::LeftLittle
        );
    }
}
