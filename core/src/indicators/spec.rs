//! `IndicatorSpec`: what a user asks for, parsed from text such as `"macd:12:26:9"`.

use std::fmt;
use std::str::FromStr;

use super::Indicator;

/// Largest period accepted from text (a window is allocated up front; this keeps a typo such
/// as `sma:2000000000` from allocating gigabytes).
pub const MAX_PERIOD: usize = 100_000;

/// Every indicator name, with its parameters, as accepted by [`IndicatorSpec::parse`].
pub const INDICATOR_USAGE: &str = "sma:N, ema:N, wma:N, dema:N, tema:N, rsi:N, macd:FAST:SLOW:SIGNAL, bbands:N:K, \
     atr:N, stoch:FASTK:SLOWK:SLOWD, adx:N, cci:N, obv, mfi:N, roc:N, willr:N, donchian:N, \
     supertrend:N:MULTIPLIER, vwap";

/// Why an indicator spec did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndicatorParseError {
    #[error("empty indicator spec (expected one of: {})", INDICATOR_USAGE)]
    Empty,
    #[error("unknown indicator `{name}` in `{spec}` (expected one of: {})", INDICATOR_USAGE)]
    UnknownName { spec: String, name: String },
    #[error("`{spec}`: {name} takes {expected} parameter(s), got {got} (usage: {usage})")]
    ParamCount { spec: String, name: &'static str, expected: usize, got: usize, usage: &'static str },
    #[error("`{spec}`: {param} `{value}` is not {expected}")]
    BadNumber { spec: String, param: &'static str, value: String, expected: &'static str },
    #[error("`{spec}`: {param} must be at least 1, got 0")]
    ZeroPeriod { spec: String, param: &'static str },
    #[error("`{spec}`: {param} {value} is larger than the maximum of {}", MAX_PERIOD)]
    PeriodTooLarge { spec: String, param: &'static str, value: usize },
    #[error("`{spec}`: {reason}")]
    Invalid { spec: String, reason: &'static str },
}

/// What a user asks for: parsed from "sma:20", "ema:20", "wma:10", "dema:10", "tema:10",
/// "rsi:14", "macd:12:26:9", "bbands:20:2", "atr:14", "stoch:14:3:3", "adx:14", "cci:20",
/// "obv", "mfi:14", "roc:10", "willr:14", "donchian:20", "supertrend:10:3", "vwap".
/// Names are case-insensitive; parameters are integers except the Bollinger `k` and the
/// SuperTrend multiplier, which may be decimals ("bbands:20:2.5").
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum IndicatorSpec {
    Sma(usize),
    Ema(usize),
    Wma(usize),
    Dema(usize),
    Tema(usize),
    Rsi(usize),
    Macd { fast: usize, slow: usize, signal: usize },
    Bbands { period: usize, k: f64 },
    Atr(usize),
    Stoch { fastk: usize, slowk: usize, slowd: usize },
    Adx(usize),
    Cci(usize),
    Obv,
    Mfi(usize),
    Roc(usize),
    Willr(usize),
    Donchian(usize),
    Supertrend { period: usize, multiplier: f64 },
    Vwap,
}

struct Parser<'a> {
    spec: &'a str,
    name: &'static str,
    usage: &'static str,
    params: Vec<&'a str>,
}

impl Parser<'_> {
    fn expect(&self, n: usize) -> Result<(), IndicatorParseError> {
        if self.params.len() == n {
            return Ok(());
        }
        Err(IndicatorParseError::ParamCount {
            spec: self.spec.to_string(),
            name: self.name,
            expected: n,
            got: self.params.len(),
            usage: self.usage,
        })
    }

    fn period(&self, i: usize, param: &'static str) -> Result<usize, IndicatorParseError> {
        let text = self.params[i];
        let v: usize = text.parse().map_err(|_| IndicatorParseError::BadNumber {
            spec: self.spec.to_string(),
            param,
            value: text.to_string(),
            expected: "a whole number of bars",
        })?;
        if v == 0 {
            return Err(IndicatorParseError::ZeroPeriod { spec: self.spec.to_string(), param });
        }
        if v > MAX_PERIOD {
            return Err(IndicatorParseError::PeriodTooLarge { spec: self.spec.to_string(), param, value: v });
        }
        Ok(v)
    }

    fn factor(&self, i: usize, param: &'static str) -> Result<f64, IndicatorParseError> {
        let text = self.params[i];
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(IndicatorParseError::BadNumber {
                spec: self.spec.to_string(),
                param,
                value: text.to_string(),
                expected: "a positive number",
            }),
        }
    }

    /// One period parameter.
    fn single(&self) -> Result<usize, IndicatorParseError> {
        self.expect(1)?;
        self.period(0, "period")
    }
}

impl IndicatorSpec {
    /// Parses one spec such as `"rsi:14"` or `"BBANDS:20:2.5"` (surrounding spaces allowed).
    pub fn parse(s: &str) -> Result<IndicatorSpec, IndicatorParseError> {
        let spec = s.trim();
        if spec.is_empty() {
            return Err(IndicatorParseError::Empty);
        }
        let mut parts = spec.split(':').map(str::trim);
        let raw_name = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let lower = raw_name.to_ascii_lowercase();
        let (name, usage): (&'static str, &'static str) = match lower.as_str() {
            "sma" => ("sma", "sma:N"),
            "ema" => ("ema", "ema:N"),
            "wma" => ("wma", "wma:N"),
            "dema" => ("dema", "dema:N"),
            "tema" => ("tema", "tema:N"),
            "rsi" => ("rsi", "rsi:N"),
            "macd" => ("macd", "macd:FAST:SLOW:SIGNAL"),
            "bbands" => ("bbands", "bbands:N:K"),
            "atr" => ("atr", "atr:N"),
            "stoch" => ("stoch", "stoch:FASTK:SLOWK:SLOWD"),
            "adx" => ("adx", "adx:N"),
            "cci" => ("cci", "cci:N"),
            "obv" => ("obv", "obv"),
            "mfi" => ("mfi", "mfi:N"),
            "roc" => ("roc", "roc:N"),
            "willr" => ("willr", "willr:N"),
            "donchian" => ("donchian", "donchian:N"),
            "supertrend" => ("supertrend", "supertrend:N:MULTIPLIER"),
            "vwap" => ("vwap", "vwap"),
            _ => return Err(IndicatorParseError::UnknownName { spec: spec.to_string(), name: raw_name.to_string() }),
        };
        let p = Parser { spec, name, usage, params };
        Ok(match name {
            "sma" => IndicatorSpec::Sma(p.single()?),
            "ema" => IndicatorSpec::Ema(p.single()?),
            "wma" => IndicatorSpec::Wma(p.single()?),
            "dema" => IndicatorSpec::Dema(p.single()?),
            "tema" => IndicatorSpec::Tema(p.single()?),
            "rsi" => IndicatorSpec::Rsi(p.single()?),
            "atr" => IndicatorSpec::Atr(p.single()?),
            "adx" => IndicatorSpec::Adx(p.single()?),
            "cci" => IndicatorSpec::Cci(p.single()?),
            "mfi" => IndicatorSpec::Mfi(p.single()?),
            "roc" => IndicatorSpec::Roc(p.single()?),
            "willr" => IndicatorSpec::Willr(p.single()?),
            "donchian" => IndicatorSpec::Donchian(p.single()?),
            "macd" => {
                p.expect(3)?;
                let (fast, slow, signal) =
                    (p.period(0, "fast period")?, p.period(1, "slow period")?, p.period(2, "signal period")?);
                if fast >= slow {
                    return Err(IndicatorParseError::Invalid {
                        spec: spec.to_string(),
                        reason: "the fast period must be shorter than the slow period",
                    });
                }
                IndicatorSpec::Macd { fast, slow, signal }
            }
            "bbands" => {
                p.expect(2)?;
                IndicatorSpec::Bbands { period: p.period(0, "period")?, k: p.factor(1, "deviation multiplier k")? }
            }
            "stoch" => {
                p.expect(3)?;
                IndicatorSpec::Stoch {
                    fastk: p.period(0, "fast %K period")?,
                    slowk: p.period(1, "slow %K period")?,
                    slowd: p.period(2, "%D period")?,
                }
            }
            "supertrend" => {
                p.expect(2)?;
                IndicatorSpec::Supertrend { period: p.period(0, "ATR period")?, multiplier: p.factor(1, "multiplier")? }
            }
            "obv" => {
                p.expect(0)?;
                IndicatorSpec::Obv
            }
            _ => {
                p.expect(0)?;
                IndicatorSpec::Vwap
            }
        })
    }

    /// Parses a comma-separated list (`"sma:20, rsi:14,macd:12:26:9"`). An empty or blank
    /// string is an empty list; an empty item between commas is an error.
    pub fn parse_list(s: &str) -> Result<Vec<IndicatorSpec>, IndicatorParseError> {
        if s.trim().is_empty() {
            return Ok(Vec::new());
        }
        s.split(',').map(IndicatorSpec::parse).collect()
    }

    /// Column names, in output order: `sma_20`; `macd_12_26_9`, `macd_signal_12_26_9`,
    /// `macd_hist_12_26_9`; `bb_upper_20_2`, `bb_middle_20_2`, `bb_lower_20_2`; `stoch_k_14_3_3`,
    /// `stoch_d_14_3_3`; `adx_14`, `plus_di_14`, `minus_di_14`; `donchian_upper_20`,
    /// `donchian_middle_20`, `donchian_lower_20`; `supertrend_10_3`, `supertrend_dir_10_3`;
    /// `obv`; `vwap`; … Decimals print minimally (2 → "2", 2.5 → "2.5").
    pub fn output_names(&self) -> Vec<String> {
        use IndicatorSpec::*;
        let one = |name: &str, n: &usize| vec![format!("{name}_{n}")];
        match self {
            Sma(n) => one("sma", n),
            Ema(n) => one("ema", n),
            Wma(n) => one("wma", n),
            Dema(n) => one("dema", n),
            Tema(n) => one("tema", n),
            Rsi(n) => one("rsi", n),
            Atr(n) => one("atr", n),
            Cci(n) => one("cci", n),
            Mfi(n) => one("mfi", n),
            Roc(n) => one("roc", n),
            Willr(n) => one("willr", n),
            Macd { fast, slow, signal } => {
                let t = format!("{fast}_{slow}_{signal}");
                vec![format!("macd_{t}"), format!("macd_signal_{t}"), format!("macd_hist_{t}")]
            }
            Bbands { period, k } => {
                let t = format!("{period}_{k}");
                vec![format!("bb_upper_{t}"), format!("bb_middle_{t}"), format!("bb_lower_{t}")]
            }
            Stoch { fastk, slowk, slowd } => {
                let t = format!("{fastk}_{slowk}_{slowd}");
                vec![format!("stoch_k_{t}"), format!("stoch_d_{t}")]
            }
            Adx(n) => vec![format!("adx_{n}"), format!("plus_di_{n}"), format!("minus_di_{n}")],
            Donchian(n) => {
                vec![format!("donchian_upper_{n}"), format!("donchian_middle_{n}"), format!("donchian_lower_{n}")]
            }
            Supertrend { period, multiplier } => {
                let t = format!("{period}_{multiplier}");
                vec![format!("supertrend_{t}"), format!("supertrend_dir_{t}")]
            }
            Obv => vec!["obv".to_string()],
            Vwap => vec!["vwap".to_string()],
        }
    }

    /// Number of output columns (the length of [`IndicatorSpec::output_names`]).
    pub fn outputs(&self) -> usize {
        use IndicatorSpec::*;
        match self {
            Macd { .. } | Bbands { .. } | Adx(_) | Donchian(_) => 3,
            Stoch { .. } | Supertrend { .. } => 2,
            _ => 1,
        }
    }

    /// A fresh indicator for this spec (allocates its windows; updates never allocate).
    pub fn build(&self) -> Indicator {
        use super::*;
        match *self {
            IndicatorSpec::Sma(n) => Indicator::Sma(Sma::new(n)),
            IndicatorSpec::Ema(n) => Indicator::Ema(Ema::new(n)),
            IndicatorSpec::Wma(n) => Indicator::Wma(Wma::new(n)),
            IndicatorSpec::Dema(n) => Indicator::Dema(Dema::new(n)),
            IndicatorSpec::Tema(n) => Indicator::Tema(Tema::new(n)),
            IndicatorSpec::Rsi(n) => Indicator::Rsi(Rsi::new(n)),
            IndicatorSpec::Macd { fast, slow, signal } => Indicator::Macd(Macd::new(fast, slow, signal)),
            IndicatorSpec::Bbands { period, k } => Indicator::Bbands(Bollinger::new(period, k)),
            IndicatorSpec::Atr(n) => Indicator::Atr(Atr::new(n)),
            IndicatorSpec::Stoch { fastk, slowk, slowd } => Indicator::Stoch(Stoch::new(fastk, slowk, slowd)),
            IndicatorSpec::Adx(n) => Indicator::Adx(Adx::new(n)),
            IndicatorSpec::Cci(n) => Indicator::Cci(Cci::new(n)),
            IndicatorSpec::Obv => Indicator::Obv(Obv::new()),
            IndicatorSpec::Mfi(n) => Indicator::Mfi(Mfi::new(n)),
            IndicatorSpec::Roc(n) => Indicator::Roc(Roc::new(n)),
            IndicatorSpec::Willr(n) => Indicator::Willr(WillR::new(n)),
            IndicatorSpec::Donchian(n) => Indicator::Donchian(Donchian::new(n)),
            IndicatorSpec::Supertrend { period, multiplier } => {
                Indicator::Supertrend(SuperTrend::new(period, multiplier))
            }
            IndicatorSpec::Vwap => Indicator::Vwap(Vwap::new()),
        }
    }
}

/// The canonical text form, which [`IndicatorSpec::parse`] reads back (`macd:12:26:9`).
impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use IndicatorSpec::*;
        match self {
            Sma(n) => write!(f, "sma:{n}"),
            Ema(n) => write!(f, "ema:{n}"),
            Wma(n) => write!(f, "wma:{n}"),
            Dema(n) => write!(f, "dema:{n}"),
            Tema(n) => write!(f, "tema:{n}"),
            Rsi(n) => write!(f, "rsi:{n}"),
            Macd { fast, slow, signal } => write!(f, "macd:{fast}:{slow}:{signal}"),
            Bbands { period, k } => write!(f, "bbands:{period}:{k}"),
            Atr(n) => write!(f, "atr:{n}"),
            Stoch { fastk, slowk, slowd } => write!(f, "stoch:{fastk}:{slowk}:{slowd}"),
            Adx(n) => write!(f, "adx:{n}"),
            Cci(n) => write!(f, "cci:{n}"),
            Obv => write!(f, "obv"),
            Mfi(n) => write!(f, "mfi:{n}"),
            Roc(n) => write!(f, "roc:{n}"),
            Willr(n) => write!(f, "willr:{n}"),
            Donchian(n) => write!(f, "donchian:{n}"),
            Supertrend { period, multiplier } => write!(f, "supertrend:{period}:{multiplier}"),
            Vwap => write!(f, "vwap"),
        }
    }
}

impl FromStr for IndicatorSpec {
    type Err = IndicatorParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndicatorSpec::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &str = "sma:20, ema:20, wma:10, dema:10, tema:10, rsi:14, macd:12:26:9, bbands:20:2, atr:14, \
                       stoch:14:3:3, adx:14, cci:20, obv, mfi:14, roc:10, willr:14, donchian:20, supertrend:10:3, vwap";

    #[test]
    fn parses_every_name_and_round_trips() {
        let specs = IndicatorSpec::parse_list(ALL).unwrap();
        assert_eq!(specs.len(), 19);
        let text: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        assert_eq!(text.join(", "), ALL);
        for s in &specs {
            assert_eq!(&IndicatorSpec::parse(&s.to_string()).unwrap(), s);
            assert_eq!(s.output_names().len(), s.outputs());
            assert_eq!(s.build().outputs(), s.outputs());
        }
        assert_eq!(
            IndicatorSpec::parse(" MACD:12:26:9 ").unwrap(),
            IndicatorSpec::Macd { fast: 12, slow: 26, signal: 9 }
        );
        assert_eq!(IndicatorSpec::parse("BBands:20:2.5").unwrap(), IndicatorSpec::Bbands { period: 20, k: 2.5 });
        assert_eq!(
            IndicatorSpec::parse("supertrend:7:1.5").unwrap(),
            IndicatorSpec::Supertrend { period: 7, multiplier: 1.5 }
        );
        assert_eq!(IndicatorSpec::parse_list("").unwrap(), vec![]);
        assert_eq!(IndicatorSpec::parse_list("  ").unwrap(), vec![]);
    }

    #[test]
    fn output_names_follow_the_convention() {
        let names = |s: &str| IndicatorSpec::parse(s).unwrap().output_names();
        assert_eq!(names("sma:20"), ["sma_20"]);
        assert_eq!(names("rsi:14"), ["rsi_14"]);
        assert_eq!(names("macd:12:26:9"), ["macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"]);
        assert_eq!(names("bbands:20:2"), ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"]);
        assert_eq!(names("bbands:20:2.5"), ["bb_upper_20_2.5", "bb_middle_20_2.5", "bb_lower_20_2.5"]);
        assert_eq!(names("bbands:20:2.0"), ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"]);
        assert_eq!(names("stoch:14:3:3"), ["stoch_k_14_3_3", "stoch_d_14_3_3"]);
        assert_eq!(names("adx:14"), ["adx_14", "plus_di_14", "minus_di_14"]);
        assert_eq!(names("donchian:20"), ["donchian_upper_20", "donchian_middle_20", "donchian_lower_20"]);
        assert_eq!(names("supertrend:10:3"), ["supertrend_10_3", "supertrend_dir_10_3"]);
        assert_eq!(names("obv"), ["obv"]);
        assert_eq!(names("vwap"), ["vwap"]);
        assert_eq!(names("willr:14"), ["willr_14"]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |s: &str| IndicatorSpec::parse(s).unwrap_err();
        assert!(matches!(err("foo:3"), IndicatorParseError::UnknownName { ref name, .. } if name == "foo"));
        assert!(err("foo:3").to_string().contains("unknown indicator `foo`"));
        assert!(matches!(err("sma"), IndicatorParseError::ParamCount { expected: 1, got: 0, .. }));
        assert!(matches!(err("sma:1:2"), IndicatorParseError::ParamCount { expected: 1, got: 2, .. }));
        assert!(matches!(err("obv:3"), IndicatorParseError::ParamCount { expected: 0, got: 1, .. }));
        assert!(matches!(err("macd:12:26"), IndicatorParseError::ParamCount { expected: 3, got: 2, .. }));
        assert!(err("macd:12:26").to_string().contains("macd:FAST:SLOW:SIGNAL"));
        assert!(matches!(err("sma:x"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("sma:2.5"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("sma:-3"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("sma:"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("bbands:20:nan"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("bbands:20:-1"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("bbands:20:inf"), IndicatorParseError::BadNumber { .. }));
        assert!(matches!(err("sma:0"), IndicatorParseError::ZeroPeriod { .. }));
        assert!(err("stoch:14:0:3").to_string().contains("slow %K period must be at least 1"));
        assert!(matches!(err("sma:100001"), IndicatorParseError::PeriodTooLarge { .. }));
        assert!(matches!(err("macd:26:12:9"), IndicatorParseError::Invalid { .. }));
        assert_eq!(err("  "), IndicatorParseError::Empty);
        assert_eq!(IndicatorSpec::parse_list("sma:20,,rsi:14").unwrap_err(), IndicatorParseError::Empty);
        assert!(matches!(
            IndicatorSpec::parse_list("sma:20, rsi:0").unwrap_err(),
            IndicatorParseError::ZeroPeriod { .. }
        ));
    }
}
