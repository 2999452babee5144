//! Kill -9 at random moments while replaying a file with a journal, restart until the file
//! ends, and the result must be exactly that of a run that was never interrupted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    // These tests are about the engine; the store has its own.
    c.env("DALAL_DATABASE_URL", "");
    c.env("DALAL_ADMIN_LISTEN", "");
    c
}

/// The summary without latency figures (which differ run to run by nature).
fn summary(path: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).expect("summary")).expect("json");
    if let Some(m) = v.as_object_mut() {
        m.remove("latency");
    }
    v
}

/// Runs to the end of the feed and returns what it printed.
fn run_to_end(feed: &str, journal: &std::path::Path, out: &std::path::Path) -> String {
    let o = dalal()
        .args(["run", "--feed", feed, "--speed", "max", "--fsync", "none", "--snapshot-every", "100ms", "--journal"])
        .arg(journal)
        .arg("--summary-json")
        .arg(out)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How many events a recovery took from a snapshot, from its `journal: recovered …` line.
fn from_snapshot(stdout: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.starts_with("journal: recovered"))?;
    let (_, rest) = line.split_once("s: ")?;
    rest.split(' ').next()?.parse().ok()
}

/// The last journal sequence a run reports.
fn last_seq(stdout: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.starts_with("journal:") && l.contains("appended"))?;
    line.rsplit(' ').next()?.trim().parse().ok()
}

/// A 200,000-tick session of six instruments as a CSV feed.
fn session(dir: &std::path::Path, ticks: &str) -> String {
    let csv = dir.join("ticks.csv");
    let gen = dalal()
        .args(["gen", "--ticks", ticks, "--symbols", "RELIANCE,TCS,INFY,HDFCBANK,ICICIBANK,SBIN", "--out"])
        .arg(&csv)
        .output()
        .expect("gen");
    assert!(gen.status.success());
    format!("csv:{}", csv.display())
}

/// Ten trials, each crashed three times at chosen points of its input (the process aborts
/// right after its journal takes that event: no flush, no cleanup, as `kill -9` leaves it),
/// then run to the end: every trial must end exactly as a run that was never interrupted.
#[test]
fn crashes_at_chosen_points_lose_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let feed = session(dir.path(), "200000");

    // The reference: one uninterrupted run, and how many events it journals.
    let printed = run_to_end(&feed, &dir.path().join("j-ref"), &dir.path().join("ref.json"));
    let total = last_seq(&printed).expect("the run reports its journal");
    let want = summary(&dir.path().join("ref.json"));
    assert!(want["fills"].as_u64().unwrap_or(0) > 1000, "the input must trade: {want}");

    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let (mut crashes, mut restored) = (0, 0);
    for trial in 0..10 {
        let journal = dir.path().join(format!("j{trial}"));
        let out = dir.path().join(format!("s{trial}.json"));
        // Three crash points in increasing order, between a tenth and nine tenths of the input.
        let mut points: Vec<u64> = (0..3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                total / 10 + x % (total * 8 / 10)
            })
            .collect();
        points.sort_unstable();
        for at in points {
            let status = dalal()
                .args(["run", "--feed", &feed, "--speed", "max", "--fsync", "none", "--snapshot-every", "100ms"])
                .arg("--journal")
                .arg(&journal)
                .arg("--summary-json")
                .arg(&out)
                .env("DALAL_CRASH_AT_SEQ", at.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run");
            assert_eq!(status.signal(), Some(6), "trial {trial}: the run must crash at sequence {at}: {status}");
            crashes += 1;
        }
        assert!(!out.exists(), "a crashed run writes no summary");
        let printed = run_to_end(&feed, &journal, &out);
        if from_snapshot(&printed).is_some_and(|n| n > 0) {
            restored += 1;
        }
        assert_eq!(summary(&out), want, "trial {trial} differs from the uninterrupted run");
    }
    assert_eq!(crashes, 30);
    eprintln!("{restored} of 10 final recoveries started from a snapshot");
}

/// A journal has one owner: a second process is refused at once, naming the directory and
/// the owner; once the owner is killed, its lock is taken over.
#[test]
fn a_second_process_is_refused_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let feed = session(dir.path(), "20000");
    let journal = dir.path().join("j");
    let mut owner = dalal()
        .args(["run", "--feed", &feed, "--speed", "realtime", "--journal"])
        .arg(&journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = owner.id().to_string();
    let lock = journal.join("LOCK");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&lock).map(|p| p.trim() != pid).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the owner never took the journal");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = dalal().args(["run", "--feed", &feed, "--journal"]).arg(&journal).output().expect("second");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second owner must be refused");
    assert!(
        err.contains("in use by process") && err.contains(&pid) && err.contains(&journal.display().to_string()),
        "{err}"
    );
    owner.kill().expect("kill -9");
    let _ = owner.wait();
    // The dead owner's lock is no obstacle.
    let out = dir.path().join("s.json");
    run_to_end(&feed, &journal, &out);
    assert!(summary(&out)["ticks_in"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn replay_rebuilds_from_the_journal_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("ticks.csv");
    assert!(dalal().args(["gen", "--ticks", "30000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let feed = format!("csv:{}", csv.display());
    let journal = dir.path().join("j");
    let run_json = dir.path().join("run.json");
    run_to_end(&feed, &journal, &run_json);
    let replay = |out: &std::path::Path| {
        let o = dalal().args(["replay", "--journal"]).arg(&journal).arg("--out").arg(out).output().expect("replay");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    replay(&a);
    replay(&b);
    for f in ["orders.csv", "fills.csv", "summary.json"] {
        let x = std::fs::read_to_string(a.join(f)).expect("a");
        let y = std::fs::read_to_string(b.join(f)).expect("b");
        assert!(x == y, "{f} differs between two replays of one journal");
    }
    // The journal alone gives back exactly the run that wrote it.
    assert_eq!(summary(&a.join("summary.json")), summary(&run_json));
    let orders = std::fs::read_to_string(a.join("orders.csv")).expect("orders");
    assert!(orders.lines().count() > 100, "the run traded");
}

/// `config/default.toml` with the stages pipelined, written into `dir`.
fn pipelined_config(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string("config/default.toml").expect("config/default.toml");
    assert!(text.contains("placement = \"fused\""));
    let path = dir.join("pipelined.toml");
    std::fs::write(&path, text.replacen("placement = \"fused\"", "placement = \"pipelined\"", 1)).expect("config");
    path
}

/// A pipelined engine at full speed decides on fills a little later than a fused one would,
/// by timing, so two of its runs may differ; what must hold is that the journal says exactly
/// what happened. Crashed at chosen points and restarted (from its pipelined snapshots and
/// the records after them) until the file ends, each trial's final summary is what
/// `dalal replay` rebuilds from its journal alone.
#[test]
fn a_pipelined_run_crashed_and_restarted_is_what_its_journal_replays() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let feed = session(dir.path(), "100000");
    let config = pipelined_config(dir.path());
    let run = |journal: &std::path::Path, out: &std::path::Path, crash_at: Option<u64>| {
        let mut c = dalal();
        c.args(["run", "--config"]).arg(&config);
        c.args(["--feed", &feed, "--speed", "max", "--fsync", "none", "--snapshot-every", "20ms", "--journal"]);
        c.arg(journal).arg("--summary-json").arg(out);
        if let Some(at) = crash_at {
            c.env("DALAL_CRASH_AT_SEQ", at.to_string());
        }
        c.output().expect("run")
    };
    let (mut restored, mut crashes) = (0, 0);
    for (trial, points) in [[40_000u64, 90_000], [25_000, 70_000], [60_000, 61_000]].iter().enumerate() {
        let journal = dir.path().join(format!("p{trial}"));
        let out = dir.path().join(format!("p{trial}.json"));
        for &at in points {
            let o = run(&journal, &out, Some(at));
            assert_eq!(o.status.signal(), Some(6), "trial {trial}: the run must crash at sequence {at}");
            crashes += 1;
        }
        let o = run(&journal, &out, None);
        let printed = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{printed}{}", String::from_utf8_lossy(&o.stderr));
        if from_snapshot(&printed).is_some_and(|n| n > 0) {
            restored += 1;
        }
        let got = summary(&out);
        assert_eq!(got["ticks_in"].as_u64(), Some(100_000), "trial {trial}: every tick once: {got}");
        assert!(got["fills"].as_u64().unwrap_or(0) > 100, "trial {trial}: the input must trade: {got}");
        let replayed = dir.path().join(format!("r{trial}"));
        let r = dalal()
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--journal")
            .arg(&journal)
            .arg("--out")
            .arg(&replayed)
            .output()
            .expect("replay");
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(summary(&replayed.join("summary.json")), got, "trial {trial}: the journal replays the run");
    }
    assert_eq!(crashes, 6);
    eprintln!("{restored} of 3 final recoveries started from a pipelined snapshot");
    // A clean stop leaves a snapshot of the final state: the next start replays nothing.
    let journal = dir.path().join("p0");
    let o = run(&journal, &dir.path().join("again.json"), None);
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{printed}");
    let line = printed.lines().find(|l| l.starts_with("journal: recovered")).unwrap_or_default();
    assert!(line.contains(", 0 replayed;"), "the last stop's snapshot covers the whole journal: {line}");
    assert!(from_snapshot(&printed).is_some_and(|n| n > 100_000), "{line}");
}

/// A crash can leave a snapshot ahead of the journal (the engine runs ahead of the journal's
/// writer, and the writer's last records die with the process). The restarted run journals
/// new records under those sequence numbers, so such a snapshot must go at once: kept, it
/// would look valid once the journal grew past it, and a later recovery would restore a
/// history the journal never held. Planted here (a real snapshot of the same feed under a
/// number past the crash), it is discarded at the restart; the next crash and restart (no new
/// snapshots in between, so nothing newer hides it) still see every tick exactly once.
#[test]
fn a_snapshot_ahead_of_the_journal_is_discarded_at_restart() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let feed = session(dir.path(), "60000");
    let journal = dir.path().join("j");
    let out = dir.path().join("out.json");
    let run = |crash_at: Option<u64>, every: &str| {
        let mut c = dalal();
        c.args(["run", "--feed", &feed, "--speed", "max", "--fsync", "none", "--snapshot-every", every, "--journal"]);
        c.arg(&journal).arg("--summary-json").arg(&out);
        if let Some(at) = crash_at {
            c.env("DALAL_CRASH_AT_SEQ", at.to_string());
        }
        c.output().expect("run")
    };
    // A real snapshot to plant: the final one a clean run of the same feed leaves.
    run_to_end(&feed, &dir.path().join("ref"), &dir.path().join("ref.json"));
    let newest = std::fs::read_dir(dir.path().join("ref").join("snapshots"))
        .expect("the clean run wrote snapshots")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snapshot"))
        .max()
        .expect("a snapshot");
    let o = run(Some(20_000), "1h");
    assert_eq!(o.status.signal(), Some(6), "the run must crash at 20,000");
    let snaps = journal.join("snapshots");
    std::fs::create_dir_all(&snaps).expect("snapshots");
    // The journal ends at or before 20,000 after the crash: 25,000 is ahead of it.
    let planted = snaps.join(format!("{:020}.snapshot", 25_000));
    std::fs::copy(&newest, &planted).expect("plant");

    let o = run(Some(40_000), "1h");
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.signal(), Some(6), "the run must crash at 40,000: {printed}");
    assert!(!planted.exists(), "the snapshot ahead of the journal is gone: {printed}");
    assert!(printed.contains("journal: discarded snapshot"), "{printed}");

    let o = run(None, "1h");
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{printed}{}", String::from_utf8_lossy(&o.stderr));
    let got = summary(&out);
    assert_eq!(got["ticks_in"].as_u64(), Some(60_000), "every tick once: {printed}{got}");
}
