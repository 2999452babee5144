//! The vault against its promises: secrets never in clear on disk or in `Debug` output, a wrong
//! or missing key and a damaged or altered file refused with errors that say so, and each
//! broker's required fields enforced.

use std::collections::BTreeMap;
use std::path::Path;

use dalal_brokers::{BrokerKind, Login, MasterKey, Secret, Vault, VaultError};

const API_SECRET: &str = "kite-api-secret-7f3a9c2e11";
const MPIN: &str = "4711";
const TOTP_SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DP";

fn kite() -> Login {
    Login {
        name: "alice-kite".into(),
        kind: BrokerKind::Kite,
        ids: BTreeMap::from([("api_key".into(), "kiteapikey123".into())]),
        secrets: BTreeMap::from([("api_secret".into(), Secret::new(API_SECRET))]),
    }
}

fn angel() -> Login {
    Login {
        name: "bob-angel".into(),
        kind: BrokerKind::Angel,
        ids: BTreeMap::from([("api_key".into(), "angelkey".into()), ("client_code".into(), "B123".into())]),
        secrets: BTreeMap::from([("mpin".into(), Secret::new(MPIN)), ("totp_seed".into(), Secret::new(TOTP_SEED))]),
    }
}

fn key_file(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("master.key");
    MasterKey::create_file(&f).expect("key file");
    f
}

fn key(f: &Path) -> MasterKey {
    MasterKey::load(None, f).expect("key")
}

#[test]
fn secrets_are_sealed_on_disk_and_open_again_with_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kf = key_file(dir.path());
    let path = dir.path().join("brokers.vault");
    let mut v = Vault::open(&path, key(&kf)).expect("new vault");
    v.add(kite()).expect("add kite");
    v.add(angel()).expect("add angel");
    v.save().expect("save");

    let disk = std::fs::read_to_string(&path).expect("read");
    for plain in [API_SECRET, MPIN, TOTP_SEED] {
        assert!(!disk.contains(plain), "{plain} in clear in the vault file");
    }
    assert!(disk.contains("kiteapikey123"), "identifiers stay readable");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let v = Vault::open(&path, key(&kf)).expect("reopen");
    assert_eq!(
        v.secret("alice-kite", "api_secret").expect("open").map(|s| s.expose().to_string()),
        Some(API_SECRET.into())
    );
    assert_eq!(
        v.secret("bob-angel", "totp_seed").expect("open").map(|s| s.expose().to_string()),
        Some(TOTP_SEED.into())
    );
    assert!(v.secret("alice-kite", "access_token").expect("absent field").is_none());

    // What may be shown: nothing secret, in a listing or in Debug output.
    let listed =
        format!("{:?} {}", v.list().expect("list"), serde_json::to_string(&v.list().expect("list")).expect("json"));
    let debug = format!("{v:?} {:?} {:?}", kite(), v.secret("bob-angel", "mpin").expect("open"));
    for plain in [API_SECRET, MPIN, TOTP_SEED] {
        assert!(!listed.contains(plain), "{plain} in a listing");
        assert!(!debug.contains(plain), "{plain} in Debug output");
    }
    assert!(listed.contains("****2e11"), "a long secret shows its last four characters: {listed}");
}

#[test]
fn a_wrong_missing_or_exposed_key_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kf = key_file(dir.path());
    let path = dir.path().join("brokers.vault");
    let mut v = Vault::open(&path, key(&kf)).expect("new");
    v.add(kite()).expect("add");
    v.save().expect("save");

    let other = MasterKey::generate();
    assert!(matches!(Vault::open(&path, other), Err(VaultError::WrongKey { .. })));

    let missing = MasterKey::load(None, &dir.path().join("nope.key")).expect_err("no key");
    assert!(matches!(missing, VaultError::NoKey { .. }));
    assert!(missing.to_string().contains("DALAL_MASTER_KEY"), "{missing}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = MasterKey::load(None, &kf).expect_err("readable by others");
        assert!(matches!(e, VaultError::KeyFilePermissions { mode: 0o644, .. }), "{e}");
    }

    // The environment wins over the file, in either encoding; junk is refused.
    let hex: String = "ab".repeat(32);
    assert!(MasterKey::load(Some(&hex), &kf).is_ok());
    assert!(MasterKey::load(Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), &kf).is_ok());
    assert!(matches!(MasterKey::load(Some("not a key"), &kf), Err(VaultError::KeyFormat(_))));
    assert!(matches!(MasterKey::parse("AAEC"), Err(VaultError::KeyFormat(_))));
}

#[test]
fn an_altered_or_moved_secret_does_not_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kf = key_file(dir.path());
    let path = dir.path().join("brokers.vault");
    let mut v = Vault::open(&path, key(&kf)).expect("new");
    v.add(angel()).expect("add");
    v.save().expect("save");

    // Move the MPIN's sealed value into the TOTP seed's place: the associated data differs.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let secrets = &mut doc["logins"]["bob-angel"]["secrets"];
    secrets["totp_seed"] = secrets["mpin"].clone();
    std::fs::write(&path, doc.to_string()).expect("write");
    let v = Vault::open(&path, key(&kf)).expect("the check value still opens");
    assert!(v.secret("bob-angel", "totp_seed").is_err(), "a moved value must not open");
    assert!(v.secret("bob-angel", "mpin").is_ok());

    std::fs::write(&path, "{ not json").expect("write");
    assert!(matches!(Vault::open(&path, key(&kf)), Err(VaultError::Corrupt { .. })));
}

#[test]
fn each_broker_gets_what_it_needs_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kf = key_file(dir.path());
    let mut v = Vault::open(&dir.path().join("v"), key(&kf)).expect("new");

    let mut no_totp = angel();
    no_totp.secrets.remove("totp_seed");
    let e = v.add(no_totp).expect_err("angel needs a TOTP seed");
    assert!(e.to_string().contains("totp_seed"), "{e}");

    let mut stray = kite();
    stray.secrets.insert("mpin".into(), Secret::new("1"));
    let e = v.add(stray).expect_err("kite has no mpin");
    assert!(e.to_string().contains("mpin") && e.to_string().contains("api_secret"), "{e}");

    let mut bad_name = kite();
    bad_name.name = "a b".into();
    assert!(v.add(bad_name).is_err());

    v.add(kite()).expect("add");
    assert!(matches!(v.add(kite()), Err(VaultError::Exists(_))));
    v.set_secret("alice-kite", "access_token", &Secret::new("tok")).expect("token");
    assert!(v.set_secret("alice-kite", "jwt_token", &Secret::new("x")).is_err(), "not a kite secret");
    v.set_id("alice-kite", "user_id", "AB1234").expect("user id");
    assert_eq!(v.id("alice-kite", "user_id").expect("id").as_deref(), Some("AB1234"));
    assert_eq!(v.kind("alice-kite").expect("kind"), BrokerKind::Kite);
    assert!(v.set_id("alice-kite", "client_code", "C1").is_err(), "not a kite id");
    assert!(v.set_id("alice-kite", "user_id", " ").is_err(), "empty");
    assert!(v.remove("alice-kite"));
    assert!(!v.remove("alice-kite"));
    assert!(matches!(v.secret("alice-kite", "api_secret"), Err(VaultError::UnknownLogin(_))));
}
