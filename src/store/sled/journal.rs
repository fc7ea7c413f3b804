//! The write-ahead journal of instance states. A webhook fire must be on disk before it is
//! acknowledged (with `store.sync_interval_ms` > 0: handed to the OS, and synced within that interval);
//! appending its state to this file and syncing it costs one write and one fdatasync
//! per group commit, where a sled flush costs a hand-off to sled's I/O threads and back. The states
//! reach sled later, in checkpoints that keep only each instance's newest state (see `overlay`).
//!
//! Files are `state-journal/<seq>.wal`; a record is `len: u32 LE, crc32: u32 LE, JSON [id, state]`,
//! the checksum taken over the file's number and then the JSON. A torn or corrupt record ends its
//! file. A file whose write or sync failed is never written again (the next append starts a new
//! one), so records after a bad one are never acknowledged in it.
//!
//! Checkpointed files are recycled: overwriting blocks a file already has leaves its size and block
//! map alone, so fdatasync writes the data and the cache flush but not the inode, one device round
//! trip less per group commit than appending. A recycled file's old records follow the new ones;
//! they were summed with an older file number, so reading stops where the new records end. Files
//! of a previous run are never recycled (numbers start again after a clean stop).
//!
//! `<seq>.log` files are the first format (checksum over the JSON alone); they are only read.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::faults::IoFaults;
use super::journal_file::JournalFile;
use crate::domain::instance::InstanceState;
use crate::domain::InstanceId;

const DIR: &str = "state-journal";
const EXT: &str = "wal";
const FREE_EXT: &str = "free";
const V1_EXT: &str = "log";
/// Checkpointed files kept for reuse; more are removed.
const KEEP_FREE: usize = 2;

/// One journaled state.
pub type Record = (InstanceId, InstanceState);
const HEADER: usize = 8;

pub struct Journal {
    dir: PathBuf,
    file: JournalFile,
    seq: u64,
    /// A write or sync failed: what the file holds after its last good sync is unknown.
    broken: bool,
    buf: Vec<u8>,
    /// Files are written with `O_DIRECT | O_DSYNC` (each write durable on return) rather than through
    /// the page cache (durable at [`Journal::sync`]).
    direct: bool,
    faults: std::sync::Arc<IoFaults>,
}

impl Journal {
    /// The journal directory under a data directory.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join(DIR)
    }

    /// Starts a new file after every one already in `dir`. With `direct` its writes are durable on
    /// return; otherwise they go through the page cache and are durable at [`Journal::sync`].
    pub fn create_with(dir: &Path, direct: bool) -> io::Result<Self> {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        // After kept files' numbers too: a reused file must never get the number its old records carry.
        let journal = files(dir)?.into_iter().map(|(seq, _, _)| seq);
        let after = journal.chain(numbered(dir, FREE_EXT)?.into_iter().map(|(seq, _)| seq)).max().unwrap_or(0);
        let (seq, file) = new_file(dir, after, direct)?;
        Ok(Self { dir: dir.to_owned(), file, seq, broken: false, buf: Vec::new(), direct, faults: Default::default() })
    }

    /// Writes fail when `faults` say so.
    pub fn with_faults(self, faults: std::sync::Arc<IoFaults>) -> Self {
        Self { faults, ..self }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// A write or sync failed in the current file: what it held since its last good sync is in doubt.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Appends the states in one write; they are durable after [`Journal::sync`].
    pub fn append<'a>(&mut self, states: impl Iterator<Item = (&'a InstanceId, &'a InstanceState)>) -> io::Result<()> {
        self.buf.clear();
        for record in states {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0; HEADER]);
            serde_json::to_writer(&mut self.buf, &record)?;
            let payload = &self.buf[start + HEADER..];
            let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("journal record over 4 GiB"))?;
            let crc = checksum(Some(self.seq), payload);
            self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
            self.buf[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.broken {
            self.switch()?;
        }
        if let Err(e) = self.faults.journal_write().and_then(|()| self.file.write(&self.buf)) {
            // Part of a record may be in the file; nothing may follow it there.
            self.broken = true;
            return Err(e);
        }
        Ok(())
    }

    /// Continues in a new file if a write or sync failed in this one, so that syncs work again even
    /// when nothing is left to rewrite.
    pub fn start_over(&mut self) -> io::Result<()> {
        if self.broken {
            self.switch()?;
        }
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("an earlier journal write failed; the batch is not durable"));
        }
        if let Err(e) = self.faults.journal_sync().and_then(|()| self.file.sync()) {
            // After a failed fsync the kernel may have dropped the dirty pages, and a retry can
            // report success for them: this file is done.
            self.broken = true;
            return Err(e);
        }
        Ok(())
    }

    /// Continues in a new file and returns the number of the last one that may hold records, which a
    /// checkpoint removes once their states are in sled.
    pub fn rotate(&mut self) -> io::Result<u64> {
        // What was appended for an earlier waiter may be waited on after the switch: sync it now.
        if !self.broken {
            self.sync()?;
        }
        let old = self.seq;
        self.switch()?;
        Ok(old)
    }

    fn switch(&mut self) -> io::Result<()> {
        let (seq, file) = new_file(&self.dir, self.seq, self.direct)?;
        (self.seq, self.file, self.broken) = (seq, file, false);
        Ok(())
    }

    /// Retires the files numbered up to `through`, keeping a few for reuse by later files.
    pub fn recycle_through(dir: &Path, through: u64) -> io::Result<()> {
        let mut free = free_files(dir)?.len();
        for (seq, path, _) in files(dir)? {
            if seq > through {
                continue;
            }
            if free < KEEP_FREE {
                fs::rename(&path, path.with_extension(FREE_EXT))?;
                free += 1;
            } else {
                fs::remove_file(&path)?;
            }
        }
        sync_dir(dir)
    }

    /// Removes every file kept for reuse and then the files numbered up to `through` (whatever a crash
    /// interrupts, what is left is replayed or removed at the next start).
    pub fn remove_through(dir: &Path, through: u64) -> io::Result<()> {
        for path in free_files(dir)? {
            fs::remove_file(path)?;
        }
        for (seq, path, _) in files(dir)? {
            if seq <= through {
                fs::remove_file(path)?;
            }
        }
        sync_dir(dir)
    }

    /// Every record of every file in `dir`, oldest first, and the number of the newest file.
    pub fn read_all(dir: &Path) -> io::Result<(Vec<Record>, Option<u64>)> {
        if !dir.exists() {
            return Ok((Vec::new(), None));
        }
        let mut records = Vec::new();
        let files = files(dir)?;
        for (seq, path, salted) in &files {
            let bytes = fs::read(path)?;
            let mut rest = &bytes[..];
            while let Some((record, tail)) = next_record(rest, salted.then_some(*seq)) {
                records.push(record);
                rest = tail;
            }
            if !rest.is_empty() {
                // A recycled file's old records or a write the crash tore: either way, not acknowledged.
                tracing::info!(file = %path.display(), bytes = rest.len(), "journal file ends before its last bytes");
            }
        }
        Ok((records, files.last().map(|(seq, _, _)| *seq)))
    }
}

/// The checksum of a record of file `seq` (`None`: the first format, without the number).
fn checksum(seq: Option<u64>, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if let Some(seq) = seq {
        hasher.update(&seq.to_le_bytes());
    }
    hasher.update(payload);
    hasher.finalize()
}

fn next_record(bytes: &[u8], seq: Option<u64>) -> Option<(Record, &[u8])> {
    let header = bytes.get(..HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let payload = bytes.get(HEADER..HEADER + len).filter(|p| !p.is_empty())?;
    if checksum(seq, payload) != crc {
        return None;
    }
    let record = serde_json::from_slice(payload).ok()?;
    Some((record, &bytes[HEADER + len..]))
}

fn file_name(seq: u64, ext: &str) -> String {
    format!("{seq:016}.{ext}")
}

/// A new file numbered after `after`, skipping numbers a failed earlier attempt left behind; a file
/// kept for reuse when there is one.
fn new_file(dir: &Path, after: u64, direct: bool) -> io::Result<(u64, JournalFile)> {
    let mut seq = after + 1;
    loop {
        let path = dir.join(file_name(seq, EXT));
        // Only the committer names files `.wal`, so nothing can take this name between the check
        // and the rename.
        let created = match free_files(dir)?.into_iter().next().filter(|_| !path.exists()) {
            Some(free) => fs::rename(free, &path),
            None => OpenOptions::new().create_new(true).write(true).open(&path).map(drop),
        };
        match created {
            Ok(()) => {
                // The new name must survive a crash for the records synced into it to be found.
                sync_dir(dir)?;
                return Ok((seq, JournalFile::open(&path, direct)?));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && seq < after + 64 => seq += 1,
            Err(e) => return Err(e),
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The files in `dir` named `<number>.<ext>`, with their numbers.
fn numbered(dir: &Path, ext: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = Some(&path)
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .and_then(|p| p.file_stem())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, path));
        }
    }
    Ok(found)
}

/// The journal files in `dir` by number, each with whether its checksums include the number.
fn files(dir: &Path) -> io::Result<Vec<(u64, PathBuf, bool)>> {
    let current = numbered(dir, EXT)?.into_iter().map(|(seq, path)| (seq, path, true));
    let first_format = numbered(dir, V1_EXT)?.into_iter().map(|(seq, path)| (seq, path, false));
    let mut found: Vec<_> = current.chain(first_format).collect();
    found.sort_unstable_by_key(|(seq, _, _)| *seq);
    Ok(found)
}

/// Checkpointed files kept for reuse.
fn free_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(numbered(dir, FREE_EXT)?.into_iter().map(|(_, path)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(version: u64) -> InstanceState {
        InstanceState { trigger_count: version, version, ..InstanceState::default() }
    }

    fn id(n: u8) -> InstanceId {
        InstanceId::parse(&format!("trig-{:032x}", n)).unwrap()
    }

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create_with(dir.path(), true).unwrap();
        journal.append([(&id(1), &state(1)), (&id(2), &state(5))].into_iter()).unwrap();
        journal.sync().unwrap();
        let old = journal.rotate().unwrap();
        journal.append([(&id(1), &state(2))].into_iter()).unwrap();
        journal.sync().unwrap();
        // A crash in the middle of a write leaves part of a record.
        let path = dir.path().join(file_name(journal.seq(), EXT));
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[40, 0, 0, 0, 1, 2], journal.len()).unwrap();

        let (records, newest) = Journal::read_all(dir.path()).unwrap();
        let seen: Vec<(String, u64)> = records.iter().map(|(i, s)| (i.as_str().to_owned(), s.version)).collect();
        assert_eq!(
            seen,
            vec![(id(1).as_str().to_owned(), 1), (id(2).as_str().to_owned(), 5), (id(1).as_str().to_owned(), 2)]
        );
        assert_eq!(newest, Some(old + 1));

        Journal::remove_through(dir.path(), old).unwrap();
        let (records, _) = Journal::read_all(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        // A new journal never reuses a number that may still hold records.
        assert_eq!(Journal::create_with(dir.path(), true).unwrap().seq(), old + 2);
    }

    #[test]
    fn a_corrupt_record_ends_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create_with(dir.path(), true).unwrap();
        journal.append([(&id(1), &state(1)), (&id(2), &state(2))].into_iter()).unwrap();
        let path = dir.path().join(file_name(journal.seq(), EXT));
        let mut bytes = fs::read(&path).unwrap();
        let last = usize::try_from(journal.len()).unwrap() - 3;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (records, _) = Journal::read_all(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].1.version, 1);
    }

    #[test]
    fn a_recycled_file_reads_only_its_new_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create_with(dir.path(), true).unwrap();
        let many: Vec<_> = (1..=20).map(|n| (id(n), state(u64::from(n)))).collect();
        journal.append(many.iter().map(|(i, s)| (i, s))).unwrap();
        let first = journal.rotate().unwrap();
        let first_len = fs::metadata(dir.path().join(file_name(first, EXT))).unwrap().len();

        Journal::recycle_through(dir.path(), first).unwrap();
        assert_eq!(free_files(dir.path()).unwrap().len(), 1);
        journal.rotate().unwrap();
        journal.append([(&id(99), &state(7))].into_iter()).unwrap();
        journal.sync().unwrap();

        assert!(free_files(dir.path()).unwrap().is_empty(), "the next file took the free one");
        let reused = fs::metadata(dir.path().join(file_name(journal.seq(), EXT))).unwrap().len();
        assert_eq!(reused, first_len, "overwritten in place, not appended");
        let (records, _) = Journal::read_all(dir.path()).unwrap();
        let seen: Vec<(String, u64)> = records.iter().map(|(i, s)| (i.as_str().to_owned(), s.version)).collect();
        assert_eq!(seen, vec![(id(99).as_str().to_owned(), 7)], "the old records after the new one are not read");

        Journal::remove_through(dir.path(), journal.seq()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is left, free files included");
    }

    #[test]
    fn new_files_are_numbered_after_kept_ones() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(file_name(3, FREE_EXT)), b"old records").unwrap();
        fs::write(dir.path().join(file_name(7, FREE_EXT)), b"old records").unwrap();
        assert_eq!(Journal::create_with(dir.path(), true).unwrap().seq(), 8);
        assert_eq!(free_files(dir.path()).unwrap().len(), 1, "the new file took one of them");
        Journal::remove_through(dir.path(), 0).unwrap();
        assert!(free_files(dir.path()).unwrap().is_empty(), "kept files go even when no journal file does");
    }

    #[test]
    fn no_more_than_a_few_files_are_kept_for_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create_with(dir.path(), true).unwrap();
        for n in 1..=5 {
            journal.append([(&id(n), &state(1))].into_iter()).unwrap();
            journal.rotate().unwrap();
        }
        Journal::recycle_through(dir.path(), journal.seq() - 1).unwrap();
        assert_eq!(free_files(dir.path()).unwrap().len(), KEEP_FREE);
        assert_eq!(files(dir.path()).unwrap().len(), 1, "only the current file is left");
    }

    #[test]
    fn files_of_the_first_format_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let payload = serde_json::to_vec(&(id(3), state(4))).unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        fs::write(dir.path().join(file_name(1, V1_EXT)), bytes).unwrap();

        let (records, newest) = Journal::read_all(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].1.version, newest), (4, Some(1)));
        assert_eq!(Journal::create_with(dir.path(), true).unwrap().seq(), 2, "new files are numbered after it");
    }
}
