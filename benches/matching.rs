//! Matcher benches: one finger comparison (LSS-R) per kernel path, the kernel alone,
//! and template (cylinder) creation. First they print the cylinder pairs each
//! comparison scores and, in bench mode, each SIMD path's speed-up over the scalar
//! reference timed in alternating batches.
//!
//! Fingers are real FVC2002 DB1 records when `../shared/data` is present (two
//! impressions of finger 103 and an impostor, ~40 minutiae each), else synthetic fingers of 40 minutiae.
//! Run: `cargo bench --bench matching`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use idauth_core::FingerPosition;
use idauth_match::kernel::PairCounts;
use idauth_match::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};
use idauth_match::synthetic::{SeededRng, SyntheticFinger};
use idauth_match::{Consolidation, FingerMinutiae, FingerTemplate, Kernel, Matcher, MccParams};

/// Probe, genuine mate and impostor fingers, and where they came from.
fn fingers() -> (Vec<FingerMinutiae>, &'static str) {
    let shared = std::env::var_os("IDAUTH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
        .join("fvc2002-mindtct/DB1_B");
    let load = |name: &str| -> Option<FingerMinutiae> {
        let bytes = std::fs::read(shared.join(name)).ok()?;
        idauth_match::parse(&bytes)
            .ok()?
            .fingers()
            .into_iter()
            .next()
    };
    if let (Some(a), Some(b), Some(c)) = (load("103_5.iso"), load("103_6.iso"), load("104_5.iso")) {
        return (
            vec![a, b, c],
            "fvc2002 DB1_B 103_5 / 103_6 / 104_5 (40, 39, 40 minutiae)",
        );
    }
    eprintln!(
        "note: {} not found; benching synthetic 40-minutia fingers",
        shared.display()
    );
    let mut rng = SeededRng::new(2026);
    let finger = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40);
    let other = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40);
    (
        vec![
            finger.impression(1),
            finger.impression(2),
            other.impression(1),
        ],
        "synthetic 40 minutiae",
    )
}

/// Cylinder pairs the kernel scores for one comparison: each probe cylinder against the
/// gallery cylinders within delta_theta of its direction. With the per-pair cost of
/// `kernel_row`, this gives the kernel's share of a comparison.
fn window_pairs(probe: &FingerTemplate, gallery: &FingerTemplate, params: &MccParams) -> usize {
    probe
        .points()
        .iter()
        .flat_map(|point| gallery.direction_window(point.angle, params.max_direction_difference))
        .map(|run| run.len())
        .sum()
}

fn bench_compare(c: &mut Criterion) {
    let (fingers, source) = fingers();
    let params = MccParams::default();
    let templates: Vec<FingerTemplate> = fingers
        .iter()
        .map(|f| FingerTemplate::new(f, &params))
        .collect();
    eprintln!(
        "compare inputs: {source}; cylinders {:?}; cylinder pairs in the direction window: \
         genuine {}, impostor {}",
        templates
            .iter()
            .map(FingerTemplate::len)
            .collect::<Vec<_>>(),
        window_pairs(&templates[0], &templates[1], &params),
        window_pairs(&templates[0], &templates[2], &params),
    );
    if std::env::args().any(|arg| arg == "--bench") {
        paired_ratios(&templates, &params);
    }
    let mut group = c.benchmark_group("finger_compare_lssr");
    for kernel in Kernel::available() {
        let mut matcher = Matcher::with_kernel(params.clone(), kernel, Consolidation::LssR);
        group.bench_function(format!("genuine/{}", kernel.name()), |b| {
            b.iter(|| matcher.compare(black_box(&templates[0]), black_box(&templates[1])))
        });
        group.bench_function(format!("impostor/{}", kernel.name()), |b| {
            b.iter(|| matcher.compare(black_box(&templates[0]), black_box(&templates[2])))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("finger_compare_lss");
    for kernel in Kernel::available() {
        let mut matcher = Matcher::with_kernel(params.clone(), kernel, Consolidation::Lss);
        group.bench_function(format!("genuine/{}", kernel.name()), |b| {
            b.iter(|| matcher.compare(black_box(&templates[0]), black_box(&templates[1])))
        });
    }
    group.finish();
}

/// The SIMD paths' speed-up over the scalar reference for a whole LSS-R comparison,
/// timed in alternating batches (scalar, then each SIMD path, 200 times) and printed
/// as the ratio of the medians.
///
/// criterion times one path after another, minutes apart; on a shared machine whose
/// speed moves by tens of percent over seconds, the ratio of two such medians moves
/// with it. Alternating batches expose both paths to the same conditions.
fn paired_ratios(templates: &[FingerTemplate], params: &MccParams) {
    const ROUNDS: usize = 200;
    let batch = |matcher: &mut Matcher, gallery: &FingerTemplate, reps: usize| -> f64 {
        let start = std::time::Instant::now();
        for _ in 0..reps {
            black_box(matcher.compare(black_box(&templates[0]), black_box(gallery)));
        }
        start.elapsed().as_secs_f64() * 1e6 / reps as f64
    };
    let median = |mut times: Vec<f64>| -> f64 {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let mut scalar = Matcher::with_kernel(params.clone(), Kernel::Scalar, Consolidation::LssR);
    for kernel in Kernel::available()
        .into_iter()
        .filter(|k| *k != Kernel::Scalar)
    {
        let mut simd = Matcher::with_kernel(params.clone(), kernel, Consolidation::LssR);
        for (name, gallery) in [("genuine", &templates[1]), ("impostor", &templates[2])] {
            let (mut slow, mut fast) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                slow.push(batch(&mut scalar, gallery, 10));
                fast.push(batch(&mut simd, gallery, 40));
            }
            let (slow, fast) = (median(slow), median(fast));
            eprintln!(
                "paired LSS-R {name}: scalar {slow:.1} us, {} {fast:.1} us, {:.2}x \
                 (medians of {ROUNDS} alternating batches)",
                kernel.name(),
                slow / fast
            );
        }
    }
}

fn bench_kernel_row(c: &mut Criterion) {
    let (fingers, _) = fingers();
    let params = MccParams::default();
    let probe = FingerTemplate::new(&fingers[0], &params);
    let gallery = FingerTemplate::new(&fingers[1], &params);
    let n = gallery.len();
    let mut out = vec![PairCounts::default(); n];
    let mut group = c.benchmark_group("kernel_row");
    for kernel in Kernel::available() {
        group.bench_function(format!("{}x{}/{}", 1, n, kernel.name()), |b| {
            b.iter(|| {
                kernel.row(
                    black_box(&probe.bits()[..CYLINDER_WORDS]),
                    black_box(&probe.masks()[..LAYER_WORDS]),
                    black_box(gallery.bits()),
                    black_box(gallery.masks()),
                    &mut out,
                );
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn bench_template(c: &mut Criterion) {
    let (fingers, _) = fingers();
    let params = MccParams::default();
    c.bench_function(
        &format!("template_build/{}_minutiae", fingers[0].minutiae.len()),
        |b| b.iter(|| FingerTemplate::new(black_box(&fingers[0]), &params)),
    );
}

criterion_group!(benches, bench_compare, bench_kernel_row, bench_template);
criterion_main!(benches);
