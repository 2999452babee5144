use super::*;
use dalal_core::model::{Command, KillScope, Tick};
use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};

fn tick(i: i64) -> Input {
    Input::Tick(Tick { instrument: InstrumentId(1), ts: Timestamp(i), price: Price(100 + i), qty: Qty(1) })
}

#[test]
fn append_then_recover_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut w, rec) = JournalWriter::open(dir.path(), FsyncPolicy::EveryBatch).expect("open");
        assert!(rec.records.is_empty());
        for i in 0..1000 {
            w.append(i as u64 + 1, &tick(i)).expect("append");
        }
        w.append(0, &Input::Command(Command::KillSwitch { scope: KillScope::Global, engaged: true })).expect("append");
        w.end_batch().expect("batch");
        assert_eq!(w.stats.appended, 1001);
    }
    let (mut w, rec) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("reopen");
    assert_eq!(rec.records.len(), 1001);
    assert_eq!(rec.last_seq(), 1001);
    assert_eq!(rec.last_source(), 1000);
    assert!(rec.truncated.is_none());
    assert_eq!(rec.records[10].input, tick(10));
    // Appending continues the sequence.
    assert_eq!(w.append(0, &tick(5)).expect("append"), Some(1002));
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut w, _) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("open");
        for i in 0..10 {
            w.append(0, &tick(i)).expect("append");
        }
        w.end_batch().expect("batch");
    }
    let seg = segments(dir.path()).expect("segs")[0].1.clone();
    let len = std::fs::metadata(&seg).expect("meta").len();
    // Tear the last record in half.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).expect("open");
    f.set_len(len - 7).expect("truncate");
    drop(f);
    let read_only = read_journal(dir.path(), false).expect("read");
    assert_eq!(read_only.records.len(), 9);
    assert!(read_only.truncated.is_some());
    let (mut w, rec) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("reopen");
    assert_eq!(rec.records.len(), 9);
    let t = rec.truncated.expect("reported");
    assert!(t.reason.contains("truncated"), "{}", t.reason);
    assert_eq!(w.append(0, &tick(99)).expect("append"), Some(10));
    w.end_batch().expect("batch");
    drop(w);
    let again = read_journal(dir.path(), false).expect("read");
    assert_eq!(again.records.len(), 10);
    assert!(again.truncated.is_none());
}

#[test]
fn a_flipped_bit_is_caught_by_the_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut w, _) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("open");
        for i in 0..10 {
            w.append(0, &tick(i)).expect("append");
        }
    }
    let seg = segments(dir.path()).expect("segs")[0].1.clone();
    let mut data = std::fs::read(&seg).expect("read");
    let n = data.len();
    data[n - 3] ^= 0x10;
    std::fs::write(&seg, data).expect("write");
    let rec = read_journal(dir.path(), true).expect("read");
    assert_eq!(rec.records.len(), 9);
    assert_eq!(rec.truncated.map(|t| t.reason), Some("checksum mismatch".to_string()));
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..200 {
        let mut data = Vec::new();
        for _ in 0..(k * 7 % 300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        std::fs::write(dir.path().join(segment_name(1)), &data).expect("write");
        match read_journal(dir.path(), false) {
            Ok(rec) => assert!(rec.records.len() <= data.len() / 25 + 1),
            Err(JournalError::Corrupt { .. }) => {}
            Err(e) => panic!("garbage is corruption or a torn tail, not {e}"),
        }
    }
}

#[test]
fn fsync_policy_parses() {
    assert_eq!(FsyncPolicy::parse("none"), Some(FsyncPolicy::Never));
    assert_eq!(FsyncPolicy::parse("batch"), Some(FsyncPolicy::EveryBatch));
    assert_eq!(FsyncPolicy::parse("10ms"), Some(FsyncPolicy::EveryMs(10)));
    assert_eq!(FsyncPolicy::parse("sometimes"), None);
}

fn ten_records(dir: &std::path::Path) -> std::path::PathBuf {
    let (mut w, _) = JournalWriter::open(dir, FsyncPolicy::Never).expect("open");
    for i in 0..10 {
        w.append(0, &tick(i)).expect("append");
    }
    w.end_batch().expect("batch");
    drop(w);
    segments(dir).expect("segs")[0].1.clone()
}

/// Byte offsets at which each record of a segment starts.
fn record_offsets(seg: &std::path::Path) -> Vec<usize> {
    let data = std::fs::read(seg).expect("read");
    let mut at = 0;
    let mut v = Vec::new();
    while at < data.len() {
        v.push(at);
        at += 8 + u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
    }
    v
}

#[test]
fn damage_before_the_end_is_corruption_not_a_shorter_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = ten_records(dir.path());
    let offsets = record_offsets(&seg);
    let mut data = std::fs::read(&seg).expect("read");
    let len = data.len();
    data[offsets[3] + 12] ^= 0x01;
    std::fs::write(&seg, &data).expect("write");
    match read_journal(dir.path(), false) {
        Err(JournalError::Corrupt { segment, offset, last_seq, reason }) => {
            assert_eq!((segment, offset, last_seq), (seg.clone(), offsets[3] as u64, 3));
            assert_eq!(reason, "checksum mismatch");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Opening for writing refuses too, and cuts nothing.
    let e = JournalWriter::open(dir.path(), FsyncPolicy::Never).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("corrupt at byte") && e.contains("after sequence 3") && e.contains("--salvage"), "{e}");
    assert_eq!(std::fs::metadata(&seg).expect("meta").len() as usize, len);
    // Salvage reads what precedes the damage, and says where it stopped.
    let (rec, damage) = salvage_journal(dir.path()).expect("salvage");
    assert_eq!(rec.records.len(), 3);
    assert!(matches!(damage, Some(JournalError::Corrupt { last_seq: 3, .. })));
}

#[test]
fn a_sequence_out_of_line_or_a_missing_segment_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = ten_records(dir.path());
    // A second segment that repeats the first (two writers, or a copy): sequence 1 after 10.
    std::fs::copy(&seg, dir.path().join(segment_name(11))).expect("copy");
    let e = read_journal(dir.path(), false).expect_err("out of line");
    assert!(e.to_string().contains("sequence 1 where 11 was expected"), "{e}");
    // A journal whose first segment is gone does not start at 1.
    std::fs::remove_file(&seg).expect("remove");
    let e = read_journal(dir.path(), false).expect_err("missing first segment");
    assert!(e.to_string().contains("a segment is missing"), "{e}");
}

#[test]
fn a_zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = ten_records(dir.path());
    let mut data = std::fs::read(&seg).expect("read");
    data.extend([0u8; 37]);
    std::fs::write(&seg, &data).expect("write");
    let rec = read_journal(dir.path(), true).expect("torn tail");
    assert_eq!(rec.records.len(), 10);
    assert!(rec.truncated.is_some());
}

#[test]
fn one_process_owns_a_journal_and_a_dead_owners_lock_is_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("open");
    let me = std::process::id().to_string();
    match JournalWriter::open(dir.path(), FsyncPolicy::Never) {
        Err(JournalError::Locked { pid, .. }) => assert_eq!(pid, me),
        other => panic!("a second writer must be refused, got {:?}", other.map(|_| ())),
    }
    let e = JournalWriter::open(dir.path(), FsyncPolicy::Never).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains(&dir.path().display().to_string()) && e.contains(&me), "{e}");
    drop(w);
    // A lock file whose owner is gone (its flock died with it) is no obstacle.
    std::fs::write(dir.path().join("LOCK"), "4000000\n").expect("stale lock file");
    let (_w, _) = JournalWriter::open(dir.path(), FsyncPolicy::Never).expect("take over");
    assert_eq!(std::fs::read_to_string(dir.path().join("LOCK")).expect("lock").trim(), me);
}
