//! Failures injected on purpose, so tests can drive the paths a failing disk takes through the real
//! server. Nothing sets them in production; an unset fault costs one atomic load per journal write.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct IoFaults {
    journal_writes: AtomicU32,
}

impl IoFaults {
    /// The next `n` writes to the state journal fail as if the device had returned an I/O error.
    pub fn fail_journal_writes(&self, n: u32) {
        self.journal_writes.store(n, Ordering::Release);
    }

    /// The error a journal write must fail with now, if one is due.
    pub(super) fn journal_write(&self) -> io::Result<()> {
        let due = self.journal_writes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok();
        match due {
            true => Err(io::Error::other("injected journal write failure")),
            false => Ok(()),
        }
    }
}
