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
        let rec = read_journal(dir.path(), false).expect("read");
        assert!(rec.records.len() <= data.len() / 25 + 1);
    }
}

#[test]
fn fsync_policy_parses() {
    assert_eq!(FsyncPolicy::parse("none"), Some(FsyncPolicy::Never));
    assert_eq!(FsyncPolicy::parse("batch"), Some(FsyncPolicy::EveryBatch));
    assert_eq!(FsyncPolicy::parse("10ms"), Some(FsyncPolicy::EveryMs(10)));
    assert_eq!(FsyncPolicy::parse("sometimes"), None);
}
