//! Strategies by name. A [`StrategyKind`] is what registering a [`Strategy`] type yields: its
//! name and the type's own functions to read parameters (from configuration text, as JSON),
//! encode them for the engine, describe them back, and build an instance. Configuration, the
//! console's parameter changes, snapshots and the journal all go through it, so adding a
//! strategy is its file plus one registration line.

use std::fmt;

use super::api::{ParamError, Strategy, StrategyEnv, Subscription};
use super::Ctx;
use crate::indicators::IndicatorSpec;
use crate::model::{Candle, ParamBytes, StrategyParams, Tick, PARAM_BYTES};

/// A strategy instance as the stage drives it. Implemented for every [`Strategy`]; strategy
/// authors never implement it themselves.
pub trait Runner: Send {
    fn indicators(&self) -> Vec<IndicatorSpec>;
    fn wants_ticks(&self) -> bool;
    fn subscriptions(&self) -> Vec<Subscription>;
    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>);
    fn on_tick(&mut self, tick: &Tick, ctx: &mut Ctx<'_>);
    /// The instance's whole state, for engine snapshots.
    fn save(&self) -> Result<Vec<u8>, postcard::Error>;
    /// Puts back what [`Runner::save`] wrote.
    fn restore(&mut self, bytes: &[u8]) -> Result<(), postcard::Error>;
}

impl<S: Strategy> Runner for S {
    fn indicators(&self) -> Vec<IndicatorSpec> {
        Strategy::indicators(self)
    }
    fn wants_ticks(&self) -> bool {
        Strategy::wants_ticks(self)
    }
    fn subscriptions(&self) -> Vec<Subscription> {
        Strategy::subscriptions(self)
    }
    #[inline]
    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        Strategy::on_candle(self, candle, ctx)
    }
    #[inline]
    fn on_tick(&mut self, tick: &Tick, ctx: &mut Ctx<'_>) {
        Strategy::on_tick(self, tick, ctx)
    }
    fn save(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), postcard::Error> {
        *self = postcard::from_bytes(bytes)?;
        Ok(())
    }
}

/// Builds a strategy instance from encoded parameters.
type BuildFn = fn(&ParamBytes, &StrategyEnv<'_>) -> Result<Box<dyn Runner>, ParamError>;

/// A registered strategy type. Cheap to copy; two kinds are equal when their names are.
#[derive(Clone, Copy)]
pub struct StrategyKind {
    name: &'static str,
    parse: fn(&serde_json::Value, &StrategyEnv<'_>) -> Result<ParamBytes, ParamError>,
    build: BuildFn,
    describe: fn(&ParamBytes) -> Option<serde_json::Value>,
}

impl StrategyKind {
    /// The kind of strategy type `S`.
    pub fn of<S: Strategy>() -> StrategyKind {
        StrategyKind { name: S::KIND, parse: parse::<S>, build: build::<S>, describe: describe::<S> }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Reads this kind's parameters from a JSON object (the strategy's keys of a config entry,
    /// or a console request), validates them in `env` and encodes them for the engine.
    pub fn parse(&self, params: &serde_json::Value, env: &StrategyEnv<'_>) -> Result<StrategyParams, ParamError> {
        check_qty(env)?;
        let bytes = (self.parse)(params, env)?;
        Ok(StrategyParams { qty: env.qty, allow_short: env.allow_short, bytes })
    }

    /// A fresh instance with `params`, validated again: parameters arriving as a command are
    /// as untrusted as any other input.
    pub fn build(&self, params: &StrategyParams, env: &StrategyEnv<'_>) -> Result<Box<dyn Runner>, ParamError> {
        check_qty(env)?;
        (self.build)(&params.bytes, env)
    }

    /// The parameters as a JSON object, keyed as configuration spells them (without the
    /// common keys `qty` and `allow_short`); `None` if the bytes are not this kind's.
    pub fn describe(&self, params: &StrategyParams) -> Option<serde_json::Value> {
        (self.describe)(&params.bytes)
    }
}

impl fmt::Debug for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StrategyKind({})", self.name)
    }
}

impl PartialEq for StrategyKind {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for StrategyKind {}

/// A strategy's size is a positive whole number of its instrument's lots.
fn check_qty(env: &StrategyEnv<'_>) -> Result<(), ParamError> {
    let lot = env.instrument.lot_size.0;
    if env.qty == 0 || lot == 0 || !env.qty.is_multiple_of(lot) {
        return Err(ParamError::new(
            "qty",
            format!("{} is not a positive multiple of the lot size {}", env.qty, env.instrument.lot_size),
        ));
    }
    Ok(())
}

fn parse<S: Strategy>(value: &serde_json::Value, env: &StrategyEnv<'_>) -> Result<ParamBytes, ParamError> {
    let params: S::Params = serde_path_to_error::deserialize(value).map_err(serde_error)?;
    S::new(&params, env)?;
    let bytes = postcard::to_stdvec(&params).map_err(|e| ParamError::new("", format!("cannot encode: {e}")))?;
    ParamBytes::new(&bytes).ok_or_else(|| {
        ParamError::new(
            "",
            format!(
                "the {} parameters take {} bytes encoded; a strategy's may take at most {PARAM_BYTES}",
                S::KIND,
                bytes.len()
            ),
        )
    })
}

fn build<S: Strategy>(bytes: &ParamBytes, env: &StrategyEnv<'_>) -> Result<Box<dyn Runner>, ParamError> {
    let params: S::Params = decode(bytes)?;
    Ok(Box::new(S::new(&params, env)?))
}

fn describe<S: Strategy>(bytes: &ParamBytes) -> Option<serde_json::Value> {
    let params: S::Params = decode(bytes).ok()?;
    serde_json::to_value(&params).ok()
}

fn decode<P: serde::de::DeserializeOwned>(bytes: &ParamBytes) -> Result<P, ParamError> {
    match postcard::take_from_bytes::<P>(bytes.as_slice()) {
        Ok((p, [])) => Ok(p),
        Ok(_) => Err(ParamError::new("", "encoded parameters have trailing bytes")),
        Err(e) => Err(ParamError::new("", format!("encoded parameters do not decode: {e}"))),
    }
}

/// A serde error with the key it concerns: the path where it happened, or for a missing or
/// unknown field that field's own name.
fn serde_error(e: serde_path_to_error::Error<serde_json::Error>) -> ParamError {
    let path = e.path().to_string();
    let message = e.into_inner().to_string();
    let field = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_string);
    let join = |name: String| if path == "." || path.is_empty() { name } else { format!("{path}.{name}") };
    if let Some(name) = field("missing field `") {
        return ParamError::new(join(name), "required");
    }
    if let Some(name) = field("unknown field `") {
        let expected = message.split_once(", expected ").map(|(_, e)| e).unwrap_or("no other keys");
        // The path already ends at the unknown key.
        let key = if path.ends_with(&name) { path.clone() } else { join(name) };
        return ParamError::new(key, format!("unknown key (expected {expected})"));
    }
    let key = if path == "." { String::new() } else { path };
    ParamError::new(key, message)
}

/// The strategies a configuration may name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategyRegistry {
    kinds: Vec<StrategyKind>,
}

impl StrategyRegistry {
    /// An empty registry; `dalal_core::strategies::builtin()` has the built-in ones.
    pub fn new() -> StrategyRegistry {
        StrategyRegistry::default()
    }

    /// Adds strategy type `S` under [`Strategy::KIND`]. A kind registered again under the same
    /// name replaces the earlier one, so a team can ship its own version of a built-in.
    pub fn register<S: Strategy>(&mut self) -> &mut StrategyRegistry {
        let kind = StrategyKind::of::<S>();
        match self.kinds.iter_mut().find(|k| k.name == kind.name) {
            Some(k) => *k = kind,
            None => self.kinds.push(kind),
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<StrategyKind> {
        self.kinds.iter().copied().find(|k| k.name == name)
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.iter().map(|k| k.name)
    }
}

/// Stands in for a strategy that could not be built: it declares nothing and decides
/// nothing, and the engine keeps its slot disabled.
pub struct Idle;

impl Runner for Idle {
    fn indicators(&self) -> Vec<IndicatorSpec> {
        Vec::new()
    }
    fn wants_ticks(&self) -> bool {
        false
    }
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }
    fn on_candle(&mut self, _candle: &Candle, _ctx: &mut Ctx<'_>) {}
    fn on_tick(&mut self, _tick: &Tick, _ctx: &mut Ctx<'_>) {}
    fn save(&self) -> Result<Vec<u8>, postcard::Error> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _bytes: &[u8]) -> Result<(), postcard::Error> {
        Ok(())
    }
}
