//! `dalal broker …`: managing broker logins in the vault.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use dalal_brokers::vault::MASTER_KEY_ENV;
use dalal_brokers::{BrokerKind, Login, MasterKey, Secret, Vault};

use crate::cli::{BrokerCommand, VaultArgs};

pub fn run(cmd: BrokerCommand) -> Result<()> {
    match cmd {
        BrokerCommand::Keygen { key_file } => {
            MasterKey::create_file(&key_file)?;
            println!("wrote a new master key to {} (mode 0600); keep a copy somewhere safe", key_file.display());
            Ok(())
        }
        BrokerCommand::Add { name, kind, ids, secrets, vault } => add(name, &kind, &ids, &secrets, &vault),
        BrokerCommand::List { json, vault } => list(json, &vault),
        BrokerCommand::Decode { broker: _, input } => decode(&input),
        BrokerCommand::Remove { name, vault } => {
            let mut v = open(&vault)?;
            if !v.remove(&name) {
                bail!("no broker login named {name:?} in {}", v.path().display());
            }
            v.save()?;
            println!("removed broker login {name}");
            Ok(())
        }
    }
}

fn open(args: &VaultArgs) -> Result<Vault> {
    let env = std::env::var(MASTER_KEY_ENV).ok();
    let key = MasterKey::load(env.as_deref(), &args.key_file)?;
    Ok(Vault::open(&args.vault, key)?)
}

fn add(name: String, kind: &str, ids: &[String], secret_names: &[String], args: &VaultArgs) -> Result<()> {
    let Some(kind) = BrokerKind::parse(kind) else {
        bail!("--kind {kind:?}: expected kite, angel or upstox");
    };
    let mut id_map = BTreeMap::new();
    for id in ids {
        let Some((k, v)) = id.split_once('=') else { bail!("--id {id:?}: expected FIELD=VALUE") };
        id_map.insert(k.trim().to_string(), v.trim().to_string());
    }
    let mut v = open(args)?;
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let mut lines = stdin.lock();
    let mut secrets = BTreeMap::new();
    for field in secret_names {
        if prompt {
            eprint!("{field}: ");
            let _ = std::io::stderr().flush();
        }
        let mut line = zeroize::Zeroizing::new(String::new());
        lines.read_line(&mut line).with_context(|| format!("reading the secret {field} from standard input"))?;
        let value = line.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            bail!("no value for the secret {field} on standard input (one line per --secret, in order)");
        }
        secrets.insert(field.clone(), Secret::new(value));
    }
    v.add(Login { name: name.clone(), kind, ids: id_map, secrets })?;
    v.save()?;
    println!("added {kind} login {name} to {}", v.path().display());
    Ok(())
}

fn list(json: bool, args: &VaultArgs) -> Result<()> {
    let v = open(args)?;
    let logins = v.list()?;
    if json {
        println!("{}", serde_json::to_string(&logins)?);
        return Ok(());
    }
    if logins.is_empty() {
        println!("no broker logins in {}", v.path().display());
        return Ok(());
    }
    println!("{:<16} {:<8} {:<40} secrets", "name", "broker", "ids");
    for l in logins {
        let ids = l.ids.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        let secrets = l.secrets.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        println!("{:<16} {:<8} {:<40} {secrets}", l.name, l.kind, ids);
    }
    Ok(())
}

/// `dalal broker decode --broker kite`: one JSON line out per hex line in.
fn decode(input: &std::path::Path) -> Result<()> {
    use dalal_brokers::kite::ticker::decode_frame;
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut bad, mut skipped) = (0usize, 0usize);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let value = match dalal_brokers::hex::decode(line) {
            Ok(bytes) => match decode_frame(&bytes) {
                Ok(frame) => {
                    skipped += frame.skipped;
                    serde_json::to_value(&frame.packets)?
                }
                Err(e) => {
                    bad += 1;
                    serde_json::json!({ "error": format!("line {}: {e}", i + 1) })
                }
            },
            Err(e) => {
                bad += 1;
                serde_json::json!({ "error": format!("line {}: {e}", i + 1) })
            }
        };
        writeln!(out, "{value}")?;
    }
    out.flush()?;
    if skipped > 0 {
        eprintln!("{skipped} packet(s) of no known length skipped");
    }
    if bad > 0 {
        bail!("{bad} line(s) of {} did not decode", input.display());
    }
    Ok(())
}
