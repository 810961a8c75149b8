//! Synthetic fingers for benches and tests when no real corpus is at hand.
//!
//! A finger is a set of minutiae spread over an elliptic print area with a minimum
//! spacing (real minutiae are rarely closer than a ridge period, ~9 px at 500 ppi),
//! directions following a whorl-like orientation field around a core plus noise.
//! An impression of it is the finger rotated, shifted, jittered, with some minutiae
//! lost and a few spurious ones added, as a second capture would be. Everything is
//! deterministic from a seed.

use std::f32::consts::{PI, TAU};

use idauth_core::{FingerPosition, ImpressionType, MinutiaKind, TemplateFormat};

use crate::format::{FingerMinutiae, FingerView, Minutia, MinutiaeRecord, encode};

pub mod population;

/// A capture as the one-view ISO/IEC 19794-2:2005 record a scanner would send.
pub fn iso_record(capture: &FingerMinutiae) -> Vec<u8> {
    let record = MinutiaeRecord {
        format: TemplateFormat::Iso19794_2_2005,
        product_id: None,
        equipment_compliance: 0,
        equipment_id: 0,
        width: capture.width,
        height: capture.height,
        // 500 ppi in pixels per centimetre, as ISO records carry it.
        x_resolution: 197,
        y_resolution: 197,
        views: vec![FingerView {
            position: capture.position,
            view_number: 0,
            impression: ImpressionType::LivePlain,
            quality: 60,
            minutiae: capture.minutiae.clone(),
            extended_data: vec![],
        }],
    };
    encode(&record).expect("synthetic captures stay within ISO field ranges")
}

/// SplitMix64: a tiny, well-mixed generator whose output never changes between
/// releases (a crate's default generator may), so seeds stay reproducible forever.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[low, high)`.
    pub fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        (-2.0 * u.ln()).sqrt() * (TAU * self.unit()).cos()
    }
}

/// Image geometry of synthetic captures: 500 ppi, 320 x 420 pixels.
pub const WIDTH: u16 = 320;
/// See [`WIDTH`].
pub const HEIGHT: u16 = 420;

/// A synthetic finger: its "true" minutiae in image pixels.
#[derive(Debug, Clone)]
pub struct SyntheticFinger {
    position: FingerPosition,
    /// (x, y, angle) of each true minutia.
    minutiae: Vec<(f32, f32, f32)>,
}

impl SyntheticFinger {
    /// A finger with about `count` minutiae.
    pub fn new(rng: &mut SeededRng, position: FingerPosition, count: usize) -> Self {
        let (cx, cy) = (f32::from(WIDTH) / 2.0, f32::from(HEIGHT) / 2.0);
        let (rx, ry) = (f32::from(WIDTH) * 0.42, f32::from(HEIGHT) * 0.42);
        let core = (cx + rng.range(-30.0, 30.0), cy + rng.range(-40.0, 20.0));
        let whorl = rng.range(0.0, 1.0);
        let mut minutiae: Vec<(f32, f32, f32)> = Vec::with_capacity(count);
        let mut attempts = 0;
        while minutiae.len() < count && attempts < count * 200 {
            attempts += 1;
            let (x, y) = (rng.range(cx - rx, cx + rx), rng.range(cy - ry, cy + ry));
            if ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) > 1.0 {
                continue;
            }
            if minutiae
                .iter()
                .any(|&(mx, my, _)| (mx - x).powi(2) + (my - y).powi(2) < 12.0 * 12.0)
            {
                continue;
            }
            // Ridges circle the core (whorl) or run across it (arch); either way the
            // direction is a smooth field of position, with a random ridge sense.
            let around = (y - core.1).atan2(x - core.0) + PI / 2.0;
            let across = 0.3 * ((x - core.0) / rx);
            let field = whorl * around + (1.0 - whorl) * across;
            let sense = if rng.unit() < 0.5 { 0.0 } else { PI };
            let angle = (field + sense + 0.15 * rng.normal()).rem_euclid(TAU);
            minutiae.push((x, y, angle));
        }
        Self { position, minutiae }
    }

    /// One capture of the finger. `seed` picks the capture; the same seed gives the same
    /// capture.
    pub fn impression(&self, seed: u64) -> FingerMinutiae {
        let mut rng = SeededRng::new(seed);
        let rotation = rng.range(-0.3, 0.3);
        let (dx, dy) = (rng.range(-25.0, 25.0), rng.range(-25.0, 25.0));
        let (cx, cy) = (f32::from(WIDTH) / 2.0, f32::from(HEIGHT) / 2.0);
        let (sin, cos) = rotation.sin_cos();
        let mut minutiae = Vec::with_capacity(self.minutiae.len() + 4);
        let mut place = |x: f32, y: f32, angle: f32, rng: &mut SeededRng| {
            let (x, y) = (x.round(), y.round());
            if x < 0.0 || y < 0.0 || x >= f32::from(WIDTH) || y >= f32::from(HEIGHT) {
                return;
            }
            let kind = if rng.unit() < 0.5 {
                MinutiaKind::Ending
            } else {
                MinutiaKind::Bifurcation
            };
            // ISO units, as a real record would carry them.
            let unit = TAU / 256.0;
            let angle = ((angle.rem_euclid(TAU) / unit).round() % 256.0) * unit;
            minutiae.push(Minutia {
                kind,
                x: x as u16,
                y: y as u16,
                angle,
                quality: (40.0 + 60.0 * rng.unit()) as u8,
            });
        };
        for &(x, y, angle) in &self.minutiae {
            if rng.unit() < 0.12 {
                continue;
            }
            // Image y grows downwards, so a counter-clockwise turn as seen on screen
            // is clockwise in (x, y); angles turn by the same amount.
            let (ux, uy) = (x - cx, y - cy);
            let (rx, ry) = (cx + ux * cos + uy * sin + dx, cy - ux * sin + uy * cos + dy);
            place(
                rx + 2.5 * rng.normal(),
                ry + 2.5 * rng.normal(),
                angle + rotation + 0.12 * rng.normal(),
                &mut rng,
            );
        }
        let spurious = (self.minutiae.len() as f32 * 0.08) as usize;
        for _ in 0..spurious {
            let (x, y, angle) = (
                rng.range(20.0, f32::from(WIDTH) - 20.0),
                rng.range(20.0, f32::from(HEIGHT) - 20.0),
                rng.range(0.0, TAU),
            );
            place(x, y, angle, &mut rng);
        }
        FingerMinutiae {
            position: self.position,
            width: WIDTH,
            height: HEIGHT,
            x_ppi: 500.0,
            y_ppi: 500.0,
            minutiae,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FingerTemplate, Matcher, MccParams};

    #[test]
    fn same_seed_same_finger_and_genuine_beats_impostor() {
        let params = MccParams::default();
        let mut matcher = Matcher::new(params.clone());
        let mut rng = SeededRng::new(7);
        let fingers: Vec<SyntheticFinger> = (0..6)
            .map(|_| SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40))
            .collect();
        assert_eq!(fingers[0].impression(1), fingers[0].impression(1));
        let mut genuine_wins = 0;
        for (i, finger) in fingers.iter().enumerate() {
            let enrolled = FingerTemplate::new(&finger.impression(100), &params);
            let probe = FingerTemplate::new(&finger.impression(200), &params);
            let other =
                FingerTemplate::new(&fingers[(i + 1) % fingers.len()].impression(200), &params);
            assert!(
                enrolled.len() >= 20,
                "a 40-minutia finger keeps most cylinders: {}",
                enrolled.len()
            );
            if matcher.compare(&probe, &enrolled) > matcher.compare(&other, &enrolled) {
                genuine_wins += 1;
            }
        }
        assert_eq!(genuine_wins, fingers.len());
    }
}
