//! The in-flight body budget: how many body bytes all capture connections together may hold
//! in memory before they are stored. Past it a caller gets `503` with `Retry-After` (and the
//! refusal is recorded), so 256 connections × `--max-body` cannot add up to gigabytes
//! (issue 19: 256 concurrent 1 MiB bodies peaked at 792 MiB RSS, 2.7 GiB with 4 MiB bodies).
//!
//! A body with a `Content-Length` reserves its whole size before a byte is read, so it is
//! refused at once instead of half-read; a chunked body reserves as its chunks arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shared by every connection of one capture listener.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    used: Arc<AtomicUsize>,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: Arc::default(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// An empty share, grown with [`Share::grow`].
    pub fn share(&self) -> Share {
        Share {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// Bytes of the budget held by one request; given back when dropped (once the row is stored
/// or refused and its buffers are gone).
#[derive(Debug)]
pub struct Share {
    budget: Budget,
    held: usize,
}

impl Share {
    /// Ensures the share holds at least `total` bytes. False, holding nothing more, when the
    /// budget cannot give them.
    pub fn grow_to(&mut self, total: usize) -> bool {
        let Some(extra) = total.checked_sub(self.held).filter(|&n| n > 0) else {
            return true;
        };
        let used = &self.budget.used;
        let limit = self.budget.limit;
        let taken = used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(extra).filter(|&after| after <= limit)
        });
        if taken.is_ok() {
            self.held = total;
        }
        taken.is_ok()
    }

    /// The whole budget's size, for the refusal's message.
    pub fn budget_limit(&self) -> usize {
        self.budget.limit
    }

    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_limit_and_are_given_back_when_dropped() {
        let budget = Budget::new(100);
        let mut a = budget.share();
        let mut b = budget.share();
        assert!(a.grow_to(60));
        assert!(!b.grow_to(41), "60 + 41 > 100");
        assert_eq!(b.held(), 0);
        assert!(b.grow_to(40));
        assert!(a.grow_to(60), "growing to what is held takes nothing");
        assert!(!a.grow_to(61));
        drop(a);
        assert!(b.grow_to(100));
        assert_eq!(budget.used.load(Ordering::Acquire), 100);
        drop(b);
        assert_eq!(budget.used.load(Ordering::Acquire), 0);
    }
}
