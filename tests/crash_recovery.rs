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

#[test]
fn kill_nine_at_random_moments_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("ticks.csv");
    let gen = dalal()
        .args(["gen", "--ticks", "200000", "--symbols", "RELIANCE,TCS,INFY,HDFCBANK,ICICIBANK,SBIN", "--out"])
        .arg(&csv)
        .output()
        .expect("gen");
    assert!(gen.status.success());
    let feed = format!("csv:{}", csv.display());

    // The reference: one uninterrupted run, and how long it takes.
    let t0 = Instant::now();
    run_to_end(&feed, &dir.path().join("j-ref"), &dir.path().join("ref.json"));
    let full = t0.elapsed();
    let want = summary(&dir.path().join("ref.json"));
    assert!(want["fills"].as_u64().unwrap_or(0) > 1000, "the input must trade: {want}");

    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut kills = 0;
    let mut restored = 0;
    for trial in 0..10 {
        let journal = dir.path().join(format!("j{trial}"));
        let out = dir.path().join(format!("s{trial}.json"));
        // Up to three kills per trial at random points of the run, then let it finish.
        for attempt in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // The first run of a trial starts from nothing, so a kill within 60% of the
            // reference run's time lands mid-way; later runs resume (from a snapshot, quickly)
            // and may finish before their kill, which ends the trial's kills.
            let span = if attempt == 0 { full.as_millis() as u64 * 6 / 10 } else { full.as_millis() as u64 + 50 };
            let delay = Duration::from_millis(20 + x % span.max(1));
            let mut child = dalal()
                .args(["run", "--feed", &feed, "--speed", "max", "--fsync", "none", "--snapshot-every", "100ms"])
                .arg("--journal")
                .arg(&journal)
                .arg("--summary-json")
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(delay);
            match child.try_wait().expect("wait") {
                Some(_) => break,
                None => {
                    child.kill().expect("kill -9");
                    let _ = child.wait();
                    kills += 1;
                }
            }
        }
        let _ = std::fs::remove_file(&out);
        let printed = run_to_end(&feed, &journal, &out);
        if from_snapshot(&printed).is_some_and(|n| n > 0) {
            restored += 1;
        }
        assert_eq!(summary(&out), want, "trial {trial} differs from the uninterrupted run");
    }
    assert!(kills >= 10, "only {kills} runs were actually killed mid-way");
    // Recovery went through snapshots, not only whole-journal replays.
    assert!(restored >= 3, "only {restored} of 10 recoveries restored a snapshot");
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
