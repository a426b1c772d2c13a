//! Keeping the heap close to what is in use: few malloc arenas, and freed memory given back.
//!
//! glibc's allocator gives each thread that allocates an arena of its own (up to 8 per core)
//! and keeps what a burst freed in each, for the next burst. A server that answered 200
//! concurrent reads (on up to 8 blocking threads) stayed 11–17% larger for good. Two things
//! bring it back within 10% (`a_burst_of_200_concurrent_reads…`, docs/reliability.md):
//! as many arenas as cores, set before any thread starts, and `malloc_trim` once a burst is
//! over (it walks the free lists, so never per request). Other allocators and platforms
//! manage this on their own terms: there both do nothing.

/// Caps malloc arenas at the number of cores (at least 2). Call first thing in `main`,
/// before any thread exists. Each thread's allocation cache still takes most allocations
/// without touching an arena, so capture pays no measurable lock contention for it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets an allocator parameter; called before other threads run.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Returns the heap's free pages to the system; `true` if any were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed() -> bool {
    // SAFETY: malloc_trim only shrinks glibc's own free lists; it takes each arena's lock,
    // so it is safe to call from any thread at any time, and it has no preconditions.
    unsafe { libc::malloc_trim(0) != 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}
