//! Where a configuration comes from, in order: the built-in defaults (`config/default.toml`,
//! compiled in) or a file that takes their place, then the environment.
//!
//! Every key can be set from the environment: `DALAL_` and the key's path in capitals, its
//! parts joined by `__` (`DALAL_PERSISTENCE__DATABASE_URL`, `DALAL_ADMIN__LISTEN`,
//! `DALAL_ACCOUNTS__0__LIMITS__DAILY_LOSS_LIMIT`, an index for an element of a list). A value
//! takes the type of the key it replaces (text stays text); a new key's value is read as a TOML
//! value when it is one (`true`, `42`, `[1, 2]`), else as text. An error names the variable.
//! Variables without `__` (`DALAL_ADMIN_PASSWORD`, `DALAL_MASTER_KEY`) are not keys.

use std::path::Path;

use crate::{err, Config, ConfigError};

/// `config/default.toml`, compiled in: `dalal run` works in an empty directory.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// The prefix of configuration variables.
pub const ENV_PREFIX: &str = "DALAL_";

/// A configuration and where its values came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read, or `None` for the built-in defaults.
    pub file: Option<std::path::PathBuf>,
    /// `(variable, key)` of every environment override applied.
    pub overrides: Vec<(String, String)>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config {}: {source}", file.display())]
    Read { file: std::path::PathBuf, source: std::io::Error },
    #[error("config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{variable}: {message}")]
    Variable { variable: String, message: String },
}

/// Reads `file` (or the built-in defaults), then applies the `DALAL_…__…` variables of `vars`.
pub fn load(file: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, LoadError> {
    let (text, origin) = match file {
        Some(f) => (
            std::fs::read_to_string(f).map_err(|source| LoadError::Read { file: f.to_path_buf(), source })?,
            f.display().to_string(),
        ),
        None => (DEFAULT_TOML.to_string(), "(built-in defaults)".to_string()),
    };
    let parse = |e: &dyn std::fmt::Display| LoadError::Parse { origin: origin.clone(), message: e.to_string() };
    let mut vars: Vec<(String, String)> =
        vars.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__")).collect();
    vars.sort();
    if vars.is_empty() {
        // Straight from the text: errors carry the line and column.
        let config: Config = toml::from_str(&text).map_err(|e| parse(&e))?;
        return Ok(Loaded { config, file: file.map(Path::to_path_buf), overrides: Vec::new() });
    }
    let mut root: toml::Value = toml::from_str(&text).map_err(|e| parse(&e))?;
    // The file must be right on its own before any variable is blamed.
    root.clone().try_into::<Config>().map_err(|e| parse(&e))?;
    let mut overrides = Vec::new();
    for (var, raw) in vars {
        let path = key_path(&var)?;
        set(&mut root, &path, &raw).map_err(|message| LoadError::Variable { variable: var.clone(), message })?;
        // Checked one variable at a time, so a wrong one is named.
        root.clone()
            .try_into::<Config>()
            .map_err(|e| LoadError::Variable { variable: var.clone(), message: format!("{}: {e}", path.join(".")) })?;
        overrides.push((var, path.join(".")));
    }
    let config = root.try_into::<Config>().map_err(|e| parse(&e))?;
    Ok(Loaded { config, file: file.map(Path::to_path_buf), overrides })
}

impl Loaded {
    /// The variable that set `key` (`accounts[0].limits.x` or `accounts.0.limits.x`), if one
    /// did, for naming it in a validation error.
    pub fn variable_for(&self, key: &str) -> Option<&str> {
        let dotted = key.replace('[', ".").replace(']', "");
        self.overrides
            .iter()
            .find(|(_, k)| dotted == *k || dotted.starts_with(&format!("{k}.")) || k.starts_with(&format!("{dotted}.")))
            .map(|(v, _)| v.as_str())
    }

    /// Validates, naming the variable when one set the key at fault.
    pub fn validate(&self) -> Result<dalal_core::engine::setup::EngineSetup, ConfigError> {
        self.config.validate().map_err(|e| match self.variable_for(&e.key) {
            Some(v) => err(e.key.clone(), format!("{} (set by {v})", e.message)),
            None => e,
        })
    }
}

fn key_path(var: &str) -> Result<Vec<String>, LoadError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(LoadError::Variable {
            variable: var.to_string(),
            message: "an empty part in the key's path (parts are joined by `__`)".into(),
        });
    }
    Ok(path)
}

/// Sets the value at `path` (creating sections as needed), typed after what it replaces.
fn set(root: &mut toml::Value, path: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("no key")?;
    let mut cur = root;
    for (i, part) in parents.iter().enumerate() {
        let here = path[..i].join(".");
        cur = match cur {
            toml::Value::Table(t) => t.entry(part.clone()).or_insert_with(|| toml::Value::Table(Default::default())),
            toml::Value::Array(a) => {
                let n: usize = part.parse().map_err(|_| format!("`{here}` is a list: the next part is an index"))?;
                let len = a.len();
                a.get_mut(n).ok_or_else(|| format!("`{here}` has {len} elements; there is no {n}"))?
            }
            _ => return Err(format!("`{here}` is a value, not a section")),
        };
    }
    let parent = parents.join(".");
    match cur {
        toml::Value::Table(t) => {
            let v = typed(raw, t.get(last.as_str()))?;
            t.insert(last.clone(), v);
        }
        toml::Value::Array(a) => {
            let n: usize = last.parse().map_err(|_| format!("`{parent}` is a list: the last part is an index"))?;
            let len = a.len();
            let slot = a.get_mut(n).ok_or_else(|| format!("`{parent}` has {len} elements; there is no {n}"))?;
            *slot = typed(raw, Some(slot))?;
        }
        _ => return Err(format!("`{parent}` is a value, not a section")),
    }
    Ok(())
}

fn typed(raw: &str, was: Option<&toml::Value>) -> Result<toml::Value, String> {
    use toml::Value as V;
    let as_toml = || toml::from_str::<toml::Table>(&format!("v = {raw}")).ok().and_then(|mut t| t.remove("v"));
    Ok(match was {
        Some(V::String(_)) => V::String(raw.to_string()),
        Some(V::Integer(_)) => V::Integer(raw.trim().parse().map_err(|_| format!("{raw:?} is not a whole number"))?),
        Some(V::Float(_)) => V::Float(raw.trim().parse().map_err(|_| format!("{raw:?} is not a number"))?),
        Some(V::Boolean(_)) => V::Boolean(match raw.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(format!("{raw:?} is not true or false")),
        }),
        Some(V::Array(_)) | Some(V::Table(_)) => as_toml().ok_or_else(|| format!("{raw:?} is not a TOML value"))?,
        Some(V::Datetime(_)) | None => as_toml().unwrap_or_else(|| V::String(raw.to_string())),
    })
}

/// The configuration as TOML with secrets masked: passwords in URLs, and any key that names a
/// password, secret, token or key.
pub fn show(config: &Config) -> Result<String, String> {
    let mut v = toml::Value::try_from(config).map_err(|e| e.to_string())?;
    mask(&mut v, "");
    toml::to_string_pretty(&v).map_err(|e| e.to_string())
}

/// A URL without its password (`postgres://user:****@host/db`), for messages and listings;
/// anything else as it is.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

fn mask(v: &mut toml::Value, key: &str) {
    match v {
        toml::Value::Table(t) => t.iter_mut().for_each(|(k, x)| mask(x, k)),
        toml::Value::Array(a) => a.iter_mut().for_each(|x| mask(x, key)),
        toml::Value::String(s) => {
            let k = key.to_ascii_lowercase();
            if ["password", "secret", "token", "api_key", "totp"].iter().any(|w| k.contains(w)) && !s.is_empty() {
                *s = "****".into();
            } else {
                *s = redact_url(s);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_environment_sets_any_key_and_names_itself_when_wrong() {
        let l = load(
            None,
            vars(&[
                ("DALAL_PERSISTENCE__DATABASE_URL", "postgres://u:hunter2@db/test"),
                ("DALAL_ADMIN__LISTEN", "0.0.0.0:9000"),
                ("DALAL_ENGINE__RING_SIZE", "4096"),
                ("DALAL_ACCOUNTS__0__LIMITS__DAILY_LOSS_LIMIT", "25000.5"),
                ("DALAL_ADMIN_PASSWORD", "not a key"),
            ]),
        )
        .unwrap();
        assert_eq!(l.config.persistence.database_url, "postgres://u:hunter2@db/test");
        assert_eq!(l.config.admin.listen, "0.0.0.0:9000");
        assert_eq!(l.config.engine.ring_size, 4096);
        assert_eq!(l.config.accounts[0].limits.daily_loss_limit, 25000.5);
        assert_eq!(l.overrides.len(), 4);
        let shown = show(&l.config).unwrap();
        assert!(shown.contains("postgres://u:****@db/test") && !shown.contains("hunter2"), "{shown}");

        let e = load(None, vars(&[("DALAL_PERSISTENCE__DATABSE_URL", "x")])).unwrap_err().to_string();
        assert!(e.starts_with("DALAL_PERSISTENCE__DATABSE_URL: ") && e.contains("databse_url"), "{e}");
        let e = load(None, vars(&[("DALAL_ENGINE__RING_SIZE", "lots")])).unwrap_err().to_string();
        assert!(e.starts_with("DALAL_ENGINE__RING_SIZE: ") && e.contains("whole number"), "{e}");
        let e = load(None, vars(&[("DALAL_ACCOUNTS__9__NAME", "x")])).unwrap_err().to_string();
        assert!(e.contains("no 9"), "{e}");
        let l = load(None, vars(&[("DALAL_ENGINE__RING_SIZE", "3")])).unwrap();
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("engine.ring_size") && e.contains("DALAL_ENGINE__RING_SIZE"), "{e}");
    }

    #[test]
    fn the_built_in_defaults_are_the_shipped_file() {
        let built_in = load(None, Vec::new()).unwrap().config;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/default.toml");
        let file = load(Some(Path::new(path)), Vec::new()).unwrap();
        assert_eq!(built_in, file.config);
        assert!(built_in.validate().is_ok());
        let shown = show(&built_in).unwrap();
        let again: Config = toml::from_str(&shown).unwrap();
        assert_eq!(again, built_in, "what `config show` prints reads back as the same configuration");
    }
}
