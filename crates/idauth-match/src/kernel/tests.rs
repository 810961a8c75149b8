//! Every kernel path against the scalar reference, over many lengths and word offsets
//! (so that unaligned loads and short rows are exercised). Paths the CPU lacks are
//! skipped with a printed note.

use proptest::prelude::*;

use super::*;

fn skip_note(name: &str) {
    // The real stderr, so the note shows without --nocapture (once per process).
    use std::io::Write;
    static NOTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut noted = NOTED.lock().unwrap_or_else(|e| e.into_inner());
    if !noted.iter().any(|n| n == name) {
        noted.push(name.to_owned());
        let _ = writeln!(
            std::io::stderr(),
            "note: {name} kernel not available on this CPU; its comparison with scalar is skipped"
        );
    }
}

fn other_kernels() -> Vec<Kernel> {
    let kernels: Vec<Kernel> = Kernel::available()
        .into_iter()
        .filter(|k| *k != Kernel::Scalar)
        .collect();
    #[cfg(target_arch = "x86_64")]
    {
        if Kernel::avx2().is_none() {
            skip_note("avx2");
        }
        if Kernel::avx512().is_none() {
            skip_note("avx512");
        }
    }
    kernels
}

fn check_row(words: &[u64], probe_at: usize, gallery_at: usize, count: usize) {
    let probe_bits = &words[probe_at..probe_at + CYLINDER_WORDS];
    let probe_mask = &words[probe_at + CYLINDER_WORDS..probe_at + CYLINDER_WORDS + LAYER_WORDS];
    let gallery_bits = &words[gallery_at..gallery_at + count * CYLINDER_WORDS];
    let masks_at = gallery_at + count * CYLINDER_WORDS;
    let gallery_masks = &words[masks_at..masks_at + count * LAYER_WORDS];
    let mut expected = vec![PairCounts::default(); count];
    Kernel::Scalar.row(
        probe_bits,
        probe_mask,
        gallery_bits,
        gallery_masks,
        &mut expected,
    );
    for kernel in other_kernels() {
        let mut got = vec![
            PairCounts {
                area: 9999,
                diff: 9999,
                both: 9999
            };
            count
        ];
        kernel.row(
            probe_bits,
            probe_mask,
            gallery_bits,
            gallery_masks,
            &mut got,
        );
        assert_eq!(
            got,
            expected,
            "{} differs from scalar (count {count}, offsets {probe_at}/{gallery_at})",
            kernel.name()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_path_matches_scalar(
        count in 0usize..48,
        probe_at in 0usize..8,
        gallery_offset in 0usize..8,
        density in 0u32..4,
        seed in any::<u64>(),
    ) {
        let gallery_at = probe_at + CYLINDER_WORDS + LAYER_WORDS + gallery_offset;
        let total = gallery_at + count * (CYLINDER_WORDS + LAYER_WORDS) + 8;
        let mut state = seed | 1;
        let words: Vec<u64> = (0..total)
            .map(|_| {
                // xorshift64*; density thins or thickens the bits so that sparse,
                // dense, all-zero and all-one words all occur.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
                match density {
                    0 => r & (r >> 7) & (r >> 13),
                    1 => r,
                    2 => r | (r >> 5),
                    _ => if r & 1 == 0 { 0 } else { u64::MAX },
                }
            })
            .collect();
        check_row(&words, probe_at, gallery_at, count);
    }
}

#[test]
fn full_and_empty_cylinders_give_extreme_counts() {
    let ones = vec![u64::MAX; CYLINDER_WORDS + LAYER_WORDS];
    for kernel in Kernel::available() {
        let mut out = [PairCounts::default()];
        kernel.row(
            &ones[..CYLINDER_WORDS],
            &ones[CYLINDER_WORDS..],
            &ones[..CYLINDER_WORDS],
            &ones[CYLINDER_WORDS..],
            &mut out,
        );
        assert_eq!(
            out[0],
            PairCounts {
                area: 256,
                diff: 0,
                both: 1536
            },
            "{}",
            kernel.name()
        );
    }
}

#[test]
fn selection_honours_forced_scalar() {
    assert_eq!(Kernel::select(Some("scalar")), Kernel::Scalar);
    assert_eq!(Kernel::select(Some("no-such-kernel")), Kernel::detect());
    assert_eq!(Kernel::select(None), Kernel::detect());
}
