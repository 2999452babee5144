//! A counting global allocator, so the lab can show — not claim — that the engine allocates
//! nothing per event once warmed up. A binary opts in with
//! `#[global_allocator] static A: dalal_benches::alloc::Counting = dalal_benches::alloc::Counting;`;
//! [`installed`] tells the lab whether it did.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocations (and reallocations) made through [`Counting`], every thread together.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting each allocation.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's own arguments unchanged, so the
// GlobalAlloc contract holds exactly as it does for `System`; the counter is a relaxed atomic
// add with no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `layout` obligations pass straight through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator (that is, by `System`) with `layout`,
        // as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations counted so far.
pub fn count() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Whether the running binary installed [`Counting`] as its global allocator.
pub fn installed() -> bool {
    let before = count();
    let b = std::hint::black_box(Box::new(0u64));
    drop(b);
    count() > before
}
