//! The state journal as replayed at start-up, over files of any content: it must never panic, and it
//! must return exactly the records of each file's leading run of well-framed records (length, CRC-32
//! over the file's number and the JSON, a JSON `[id, state]`), nothing after a bad frame, no garbage.
//!
//! Input: up to four files, each `flags: u8, len: u16 LE, content`. Flags: bit 7 the first format
//! (`.log`, checksums without the file number), bit 6 "framed", bits 0–5 the file number. A framed
//! file's content is lines, each written as one correctly framed record, except that a line starting
//! with `!` is written as it is (the rest of it): so the fuzzer reaches the JSON inside valid frames.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard::fuzzing::journal::{self, Record};

const HEADER: usize = 8;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tempfile::Builder::new().prefix("switchboard-fuzz-journal").tempdir().unwrap().keep())
}

fn checksum(seq: Option<u64>, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if let Some(seq) = seq {
        hasher.update(&seq.to_le_bytes());
    }
    hasher.update(payload);
    hasher.finalize()
}

/// The records a reader may return from one file: the well-framed ones up to the first that is not.
fn expected(mut bytes: &[u8], seq: Option<u64>) -> Vec<Record> {
    let mut found = Vec::new();
    while bytes.len() >= HEADER {
        let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[4..HEADER].try_into().unwrap());
        let Some(payload) = bytes.get(HEADER..HEADER + len).filter(|p| !p.is_empty()) else { break };
        if checksum(seq, payload) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice::<Record>(payload) else { break };
        found.push(record);
        bytes = &bytes[HEADER + len..];
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let mut files: Vec<(u64, bool, Vec<u8>)> = Vec::new();
    let mut rest = data;
    while let Some((&flags, tail)) = rest.split_first() {
        if files.len() == 4 {
            break;
        }
        let (len, tail) = match tail {
            [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
            _ => (tail.len(), &[][..]),
        };
        let (content, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let (v1, framed, seq) = (flags & 0x80 != 0, flags & 0x40 != 0, u64::from(flags & 0x3f));
        if files.iter().any(|(s, _, _)| *s == seq) {
            continue;
        }
        let salt = (!v1).then_some(seq);
        let bytes = if framed {
            let mut bytes = Vec::new();
            for line in content.split(|b| *b == b'\n') {
                if let Some(raw) = line.strip_prefix(b"!") {
                    bytes.extend_from_slice(raw);
                } else {
                    bytes.extend_from_slice(&u32::try_from(line.len()).unwrap().to_le_bytes());
                    bytes.extend_from_slice(&checksum(salt, line).to_le_bytes());
                    bytes.extend_from_slice(line);
                }
            }
            bytes
        } else {
            content.to_vec()
        };
        std::fs::write(dir.join(journal::file_name(seq, v1)), &bytes).unwrap();
        files.push((seq, v1, bytes));
    }

    let (records, newest) = journal::read_all(dir).expect("the files are readable");

    files.sort_by_key(|(seq, _, _)| *seq);
    let want: Vec<Record> = files.iter().flat_map(|(seq, v1, bytes)| expected(bytes, (!v1).then_some(*seq))).collect();
    assert_eq!(records, want, "replayed records differ from the well-framed ones");
    assert_eq!(newest, files.last().map(|(seq, _, _)| *seq));
});
