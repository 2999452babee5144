//! The SQL store on SQLite (a temporary file): migrations, idempotent writes, the writer's
//! batches and drop accounting, and the admin queries reading back what was written.

use std::time::{Duration, Instant};

use dalal_persistence::store::{Backend, Store, StoreError, StoreOptions, StoreWriter, Table, DEFAULT_SQLITE_URL};

mod common;
use common::*;

fn temp_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/data/dalal.db?mode=rwc", dir.path().display())
}

#[test]
fn migrations_create_the_schema_and_seed_from_the_setup() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let url = temp_url(&dir);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        for t in Table::ALL {
            store.count(t).await.unwrap_or_else(|e| panic!("table {} missing: {e}", t.name()));
        }
        let names: Vec<String> = s.accounts.iter().map(|a| a.name.clone()).collect();
        assert_eq!(store.accounts().await.unwrap(), names);
        let inst = store.instruments().await.unwrap();
        assert_eq!(inst.len(), s.instruments.len());
        let reliance = s.instrument_by_symbol("RELIANCE").expect("RELIANCE in the default config");
        assert!(inst.iter().any(|(sym, seg, tick, lot)| sym == "RELIANCE"
            && seg == "NSE_EQ"
            && *tick == reliance.tick_size.0
            && *lot == reliance.lot_size.0 as i64));
        store.close().await;

        // A second start migrates nothing and seeds nothing twice.
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_eq!(store.count(Table::Accounts).await.unwrap(), s.accounts.len() as i64);
        assert_eq!(store.count(Table::Instruments).await.unwrap(), s.instruments.len() as i64);
        store.close().await;
    });
    assert!(dir.path().join("data/dalal.db").exists(), "the database file is created with its directory");
}

#[test]
fn urls_are_checked() {
    assert_eq!(Backend::of_url(DEFAULT_SQLITE_URL), Some(Backend::Sqlite));
    assert_eq!(Backend::of_url("postgres://u@h/db"), Some(Backend::Postgres));
    assert_eq!(Backend::of_url("postgresql://u@h/db"), Some(Backend::Postgres));
    assert!(matches!(StoreWriter::start("mysql://x", &setup(), 10), Err(StoreError::BadUrl(_))));
}

#[test]
fn writing_the_same_events_twice_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 300);
    rt().block_on(async {
        let store = Store::open(&temp_url(&dir), &s, StoreOptions::default()).await.unwrap();
        store.write(&events).await.unwrap();
        assert_counts(&store, 300).await;
        // Replayed as one batch, then in small pieces as a journal re-feed would.
        store.write(&events).await.unwrap();
        for chunk in events.chunks(7) {
            store.write(chunk).await.unwrap();
        }
        assert_counts(&store, 300).await;
        assert_queries(&store, &s, 300).await;

        // An older update re-fed after a newer one does not move an order back.
        store.write(&events[..2]).await.unwrap();
        assert_eq!(store.order(1).await.unwrap().unwrap().status, "FILLED");
        store.close().await;
    });
}

#[test]
fn writer_batches_ten_thousand_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 1700);
    assert!(events.len() >= 10_000, "{}", events.len());
    let url = temp_url(&dir);
    let w = StoreWriter::start(&url, &s, 16_384).unwrap();
    let t = Instant::now();
    for e in &events {
        assert!(w.submit(e.clone()), "queue large enough");
    }
    assert!(w.flush(Duration::from_secs(60)), "writer drains");
    let el = t.elapsed();
    let st = w.flush_and_stop();
    println!(
        "sqlite writer: {} events in {:?} ({:.0} events/s, {} batches)",
        st.written,
        el,
        st.written as f64 / el.as_secs_f64(),
        st.batches
    );
    assert_eq!(st.written, events.len() as u64);
    assert_eq!((st.dropped, st.rejected, st.abandoned, st.lag), (0, 0, 0, 0));
    assert_eq!(st.first_unwritten_seq, None);
    assert_eq!(st.last_written_seq, Some(events.iter().map(|e| e.source_seq()).max().unwrap()));
    assert!(st.db_available);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_counts(&store, 1700).await;
        assert_queries(&store, &s, 1700).await;
        store.close().await;
    });
}

#[test]
fn a_full_queue_drops_without_blocking_and_the_journal_refeed_fills_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    let events = story(&s, 400);
    let url = temp_url(&dir);
    let w = StoreWriter::start_with(&url, &s, StoreOptions { capacity: 4, max_batch: 4, ..StoreOptions::default() })
        .unwrap();
    let t = Instant::now();
    let (mut accepted, mut first_dropped) = (0, None);
    for e in &events {
        if w.submit(e.clone()) {
            accepted += 1;
        } else {
            first_dropped.get_or_insert(e.source_seq());
        }
    }
    let submit_time = t.elapsed();
    let st = w.stats();
    assert!(st.dropped > 0, "a 4-event queue cannot take {} events at once", events.len());
    assert_eq!(st.dropped as usize + accepted, events.len());
    assert!(submit_time < Duration::from_secs(2), "submit never waits: {submit_time:?}");
    let first = w.take_first_unwritten_seq().expect("the first dropped sequence is kept");
    assert_eq!(Some(first), first_dropped);
    assert!(w.flush(Duration::from_secs(30)));

    // What a journal re-read from `first` would feed, at a pace the writer keeps up with.
    for e in events.iter().filter(|e| e.source_seq() >= first) {
        while !w.submit(e.clone()) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(w.flush(Duration::from_secs(30)));
    let st = w.flush_and_stop();
    assert_eq!(st.rejected, 0);
    rt().block_on(async {
        let store = Store::open(&url, &s, StoreOptions::default()).await.unwrap();
        assert_counts(&store, 400).await;
        assert_queries(&store, &s, 400).await;
        store.close().await;
    });
}

#[test]
fn imported_bars_are_kept_replaced_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup();
    rt().block_on(async {
        let store = Store::open(&temp_url(&dir), &s, StoreOptions::default()).await.unwrap();
        assert_history_round_trip(&store).await;
        store.close().await;
    });
}
