//! Pinning threads to cores without trusting the requested core to exist.

use super::Pinning;

/// Cores this process may run on, read before any thread is pinned (afterwards a pinned thread
/// would see only its own core).
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
}

/// Pins the calling thread if the core exists; otherwise warns and leaves it unpinned. The
/// disruptor crate's own pinning panics on a missing core, which is why the threads are ours.
pub fn pin_current(thread: &str, requested: Option<usize>, available: &[usize]) -> Pinning {
    let pinned = match requested {
        None => false,
        Some(id) if available.contains(&id) => {
            let ok = core_affinity::set_for_current(core_affinity::CoreId { id });
            if !ok {
                tracing::warn!(thread, core = id, "could not pin thread; running unpinned");
            }
            ok
        }
        Some(id) => {
            tracing::warn!(thread, core = id, ?available, "core does not exist or is not allowed; running unpinned");
            false
        }
    };
    Pinning { thread: thread.to_string(), requested, pinned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_core_is_a_warning_not_a_panic() {
        let p = std::thread::spawn(|| pin_current("t", Some(usize::MAX), &available_cores())).join();
        assert_eq!(p.ok().map(|p| p.pinned), Some(false));
        let none = pin_current("t", None, &[]);
        assert!(!none.pinned);
    }
}
