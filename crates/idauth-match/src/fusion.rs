//! Several fingers in one probe: each probe finger is compared with the enrolled finger
//! at the same position and the finger scores are fused by the sum rule (their mean),
//! the simplest rule that is robust to one poor capture. The decision threshold for a
//! k-finger probe is taken from the fused-score distribution of k-finger comparisons.

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
pub fn compare_fingers(
    matcher: &mut Matcher,
    probe: &[FingerTemplate],
    enrolled: &[FingerTemplate],
) -> FusedScore {
    let mut fingers = Vec::with_capacity(probe.len());
    for finger in probe {
        let score = if finger.position() == FingerPosition::Unknown {
            enrolled
                .iter()
                .map(|e| matcher.compare(finger, e))
                .reduce(f32::max)
        } else {
            enrolled
                .iter()
                .find(|e| e.position() == finger.position())
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
