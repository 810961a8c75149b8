//! Once a `Matcher` has compared a pair of templates of some size, further comparisons
//! of templates no larger allocate nothing (the hot path of a verification).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use idauth_core::FingerPosition;
use idauth_match::synthetic::{SeededRng, SyntheticFinger};
use idauth_match::{Consolidation, FingerTemplate, Kernel, Matcher, MccParams};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn comparisons_after_warm_up_do_not_allocate() {
    // The counter does count: one deliberate allocation moves it.
    let start = ALLOCATIONS.load(Ordering::Relaxed);
    std::hint::black_box(Vec::<u8>::with_capacity(16));
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) > start,
        "counting allocator not in use"
    );

    let params = MccParams::default();
    let mut rng = SeededRng::new(9);
    let fingers: Vec<SyntheticFinger> = (0..4)
        .map(|_| SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 45))
        .collect();
    let templates: Vec<FingerTemplate> = fingers
        .iter()
        .flat_map(|f| [f.impression(1), f.impression(2)])
        .map(|c| FingerTemplate::new(&c, &params))
        .collect();
    for kernel in Kernel::available() {
        for consolidation in [Consolidation::Lss, Consolidation::LssR] {
            let mut matcher = Matcher::with_kernel(params.clone(), kernel, consolidation);
            // Warm up on every pair so the scratch buffers reach their largest size.
            for a in &templates {
                for b in &templates {
                    matcher.compare(a, b);
                }
            }
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let mut total = 0.0;
            for a in &templates {
                for b in &templates {
                    total += matcher.compare(a, b);
                }
            }
            let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
            assert!(total > 0.0);
            assert_eq!(
                allocations,
                0,
                "{} / {consolidation:?} allocated during comparisons",
                kernel.name()
            );
        }
    }
}
