//! Several fingers in one probe: each probe finger is compared with the enrolled finger
//! at the same position and the finger scores are fused by the sum rule (their mean),
//! the simplest rule that is robust to one poor capture. The decision threshold for a
//! k-finger probe is taken from the fused-score distribution of k-finger comparisons.

use std::borrow::Borrow;

use crate::compare::Matcher;
use crate::mcc::FingerTemplate;
use idauth_core::FingerPosition;

/// The outcome of a multi-finger comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedScore {
    /// Mean of the per-finger scores.
    pub fused: f32,
    /// Per probe finger: its position and its score (`None` when no enrolled finger
    /// had that position).
    pub fingers: Vec<(FingerPosition, Option<f32>)>,
}

/// Compares each probe finger with the enrolled finger at the same position.
///
/// A probe finger of unknown position is compared with every enrolled finger and keeps
/// its best score. A probe finger whose position is not enrolled scores 0 in the fusion
/// (it is evidence against the claim, not something to skip).
pub fn compare_fingers<P: Borrow<FingerTemplate>, E: Borrow<FingerTemplate>>(
    matcher: &mut Matcher,
    probe: &[P],
    enrolled: &[E],
) -> FusedScore {
    let mut fingers = Vec::with_capacity(probe.len());
    for finger in probe {
        let finger = finger.borrow();
        let score = if finger.position() == FingerPosition::Unknown {
            enrolled
                .iter()
                .map(|e| matcher.compare(finger, e.borrow()))
                .reduce(f32::max)
        } else {
            enrolled
                .iter()
                .map(Borrow::borrow)
                .find(|e: &&FingerTemplate| e.position() == finger.position())
                .map(|e| matcher.compare(finger, e))
        };
        fingers.push((finger.position(), score));
    }
    let fused = if fingers.is_empty() {
        0.0
    } else {
        fingers.iter().map(|(_, s)| s.unwrap_or(0.0)).sum::<f32>() / fingers.len() as f32
    };
    FusedScore { fused, fingers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MccParams;
    use crate::synthetic::{SeededRng, SyntheticFinger};

    fn templates(
        fingers: &[&SyntheticFinger],
        capture: u64,
        params: &MccParams,
    ) -> Vec<FingerTemplate> {
        fingers
            .iter()
            .map(|f| FingerTemplate::new(&f.impression(capture), params))
            .collect()
    }

    /// A matcher, a generator, and a right thumb and index enrolled from capture 1.
    struct Fixture {
        params: MccParams,
        matcher: Matcher,
        rng: SeededRng,
        thumb: SyntheticFinger,
        index: SyntheticFinger,
        enrolled: Vec<FingerTemplate>,
    }

    fn fixture(seed: u64) -> Fixture {
        let params = MccParams::default();
        let mut rng = SeededRng::new(seed);
        let thumb = SyntheticFinger::new(&mut rng, FingerPosition::RightThumb, 40);
        let index = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40);
        let enrolled = templates(&[&thumb, &index], 1, &params);
        Fixture {
            matcher: Matcher::new(params.clone()),
            params,
            rng,
            thumb,
            index,
            enrolled,
        }
    }

    #[test]
    fn two_finger_probe_fuses_by_position_and_penalises_missing_fingers() {
        let Fixture {
            params,
            mut matcher,
            mut rng,
            thumb,
            index,
            enrolled,
        } = fixture(42);
        let stranger = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40);

        let genuine = compare_fingers(
            &mut matcher,
            &templates(&[&thumb, &index], 2, &params),
            &enrolled,
        );
        assert_eq!(genuine.fingers.len(), 2);
        let mean = genuine.fingers.iter().map(|(_, s)| s.unwrap()).sum::<f32>() / 2.0;
        assert!(
            (genuine.fused - mean).abs() < 1e-6,
            "sum rule: the mean of the finger scores"
        );

        let impostor = compare_fingers(
            &mut matcher,
            &templates(&[&thumb, &stranger], 2, &params),
            &enrolled,
        );
        assert!(
            genuine.fused > impostor.fused,
            "{} vs {}",
            genuine.fused,
            impostor.fused
        );

        // A finger position that was never enrolled counts as a zero score.
        let little = SyntheticFinger::new(&mut rng, FingerPosition::LeftLittle, 40);
        let partial = compare_fingers(
            &mut matcher,
            &templates(&[&thumb, &little], 2, &params),
            &enrolled,
        );
        assert_eq!(partial.fingers[1], (FingerPosition::LeftLittle, None));
        assert!(partial.fused < genuine.fused);
    }

    #[test]
    fn unknown_position_takes_the_best_enrolled_finger() {
        let Fixture {
            params,
            mut matcher,
            index,
            enrolled,
            ..
        } = fixture(43);
        let mut capture = index.impression(2);
        capture.position = FingerPosition::Unknown;
        let probe = [FingerTemplate::new(&capture, &params)];
        let result = compare_fingers(&mut matcher, &probe, &enrolled);
        let direct = matcher.compare(&probe[0], &enrolled[1]);
        assert_eq!(result.fused, direct);
    }
}
