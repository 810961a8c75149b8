//! Matcher benches: one finger comparison (LSS-R) per kernel path, the kernel alone,
//! and template (cylinder) creation.
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

fn bench_compare(c: &mut Criterion) {
    let (fingers, source) = fingers();
    let params = MccParams::default();
    let templates: Vec<FingerTemplate> = fingers
        .iter()
        .map(|f| FingerTemplate::new(f, &params))
        .collect();
    eprintln!(
        "compare inputs: {source}; cylinders {:?}",
        templates
            .iter()
            .map(FingerTemplate::len)
            .collect::<Vec<_>>()
    );
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
