//! Failures injected on purpose, so tests can drive the paths a failing disk takes through the real
//! server. Nothing sets them in production; an unset fault costs one atomic load per journal write.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct IoFaults {
    journal_writes: AtomicU32,
    journal_syncs: AtomicU32,
    event_commits: AtomicU32,
}

impl IoFaults {
    /// The next `n` writes to the state journal fail as if the device had returned an I/O error.
    pub fn fail_journal_writes(&self, n: u32) {
        self.journal_writes.store(n, Ordering::Release);
    }

    /// The next `n` syncs of the state journal fail (whether or not anything was left to sync).
    pub fn fail_journal_syncs(&self, n: u32) {
        self.journal_syncs.store(n, Ordering::Release);
    }

    /// The next `n` commits of states together with their events' deliveries (one sled transaction)
    /// fail before anything is written.
    pub fn fail_event_commits(&self, n: u32) {
        self.event_commits.store(n, Ordering::Release);
    }

    /// The error a journal write must fail with now, if one is due.
    pub(super) fn journal_write(&self) -> io::Result<()> {
        take(&self.journal_writes, "journal write")
    }

    pub(super) fn journal_sync(&self) -> io::Result<()> {
        take(&self.journal_syncs, "journal sync")
    }

    pub(super) fn event_commit(&self) -> io::Result<()> {
        take(&self.event_commits, "event commit")
    }
}

fn take(due: &AtomicU32, what: &str) -> io::Result<()> {
    match due.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)) {
        Ok(_) => Err(io::Error::other(format!("injected {what} failure"))),
        Err(_) => Ok(()),
    }
}
