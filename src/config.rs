//! Collection settings and their precedence: request > manager > [defaults](Config::DEFAULT).

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a v2c walk asks for the next varbinds (v1 walks always use GETNEXT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WalkMode {
    /// GETBULK; if an agent never answers a GETBULK, one GETNEXT is tried and, when that is
    /// answered, the walk goes on with GETNEXT (some embedded agents and firewalls drop
    /// GETBULK). The switch is recorded as a `bulk_fallback` warning in the response.
    #[default]
    Auto,
    /// GETBULK only (a dead agent costs exactly its retries).
    GetBulk,
    /// GETNEXT only, as `snmpwalk` does.
    GetNext,
}

impl WalkMode {
    /// `"auto"`, `"getbulk"` or `"getnext"`.
    pub fn name(self) -> &'static str {
        match self {
            WalkMode::Auto => "auto",
            WalkMode::GetBulk => "getbulk",
            WalkMode::GetNext => "getnext",
        }
    }

    /// The mode named `"auto"`, `"getbulk"` or `"getnext"` (any case).
    pub fn parse(name: &str) -> Result<Self> {
        [WalkMode::Auto, WalkMode::GetBulk, WalkMode::GetNext]
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::InvalidConfig {
                field: "walk_mode",
                reason: format!("{name:?} is not \"auto\", \"getbulk\" or \"getnext\""),
            })
    }
}

/// A config value from a dynamically typed source (Python, JSON, a command line), for
/// [`Config::set`]: the one place where such values are checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// An integer (as wide as the source's; out-of-range values are reported, not wrapped).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// An integer too wide for `i128`, as its decimal text: outside every range.
    HugeInt(&'a str),
    /// Text.
    Text(&'a str),
    /// Something else, described for the message (e.g. `"a list"`).
    Other(&'a str),
}

impl std::fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::HugeInt(v) => f.write_str(v),
            FieldValue::Text(v) => write!(f, "{v:?}"),
            FieldValue::Other(v) => f.write_str(v),
        }
    }
}

/// Collection settings. Every field is optional: an unset field falls back to the manager's
/// config, then to the default. Build one with the setters, which validate:
///
/// ```
/// use std::time::Duration;
/// let config = snmp_stream::Config::new()
///     .retries(1)?
///     .timeout(Duration::from_millis(500))?
///     .max_var_binds_per_pdu(50)?;
/// # Ok::<(), snmp_stream::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Retransmissions after the first try of each PDU (net-snmp `-r`). Default 3.
    pub retries: Option<u32>,
    /// Wait for an answer to each try (net-snmp `-t`, sub-second allowed). Default 1 s.
    pub timeout: Option<Duration>,
    /// Varbinds asked for in one PDU: GET/GETNEXT varbinds, or the GETBULK budget shared by the
    /// columns walked together (max-repetitions × columns; net-snmp `-Cr` for one column).
    /// Default 25. Lowered by the engine for a request whose agent answers tooBig.
    pub max_var_binds_per_pdu: Option<u32>,
    /// Requests (each one net-snmp session and socket) in flight at once. Default 256.
    pub max_sessions: Option<u32>,
    /// A limit on a whole request, from its start, whatever its PDUs and retries: when it
    /// passes, the request ends with what it has collected and a `deadline` error (a polling
    /// interval's budget for a walk of unknown length). Default: none.
    pub deadline: Option<Duration>,
    /// How v2c walks ask for varbinds. Default [`WalkMode::Auto`].
    pub walk_mode: Option<WalkMode>,
}

/// Settings with every field resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub retries: u32,
    pub timeout: Duration,
    pub max_var_binds_per_pdu: u32,
    pub max_sessions: u32,
    pub deadline: Option<Duration>,
    pub walk_mode: WalkMode,
}

const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_VAR_BINDS: u32 = 25;
const DEFAULT_SESSIONS: u32 = 256;
const RETRIES: RangeInclusive<u32> = 0..=100;
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const VAR_BINDS: RangeInclusive<u32> = 1..=10_000;
const SESSIONS: RangeInclusive<u32> = 1..=1_000_000;
const MAX_DEADLINE: Duration = Duration::from_secs(86_400);

/// The names [`Config::set`] takes, in the order of the struct's fields.
pub const CONFIG_FIELDS: [&str; 6] =
    ["retries", "timeout", "max_var_binds_per_pdu", "max_sessions", "deadline", "walk_mode"];

impl Config {
    /// The defaults, applied under every manager and request config.
    pub const DEFAULT: Config = Config {
        retries: Some(DEFAULT_RETRIES),
        timeout: Some(DEFAULT_TIMEOUT),
        max_var_binds_per_pdu: Some(DEFAULT_VAR_BINDS),
        max_sessions: Some(DEFAULT_SESSIONS),
        deadline: None,
        walk_mode: Some(WalkMode::Auto),
    };

    /// A config with nothing set.
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets `retries` (0 to 100).
    pub fn retries(mut self, retries: u32) -> Result<Self> {
        self.retries = Some(count("retries", retries.into(), RETRIES)?);
        Ok(self)
    }

    /// Sets `timeout` (1 ms to 1 hour).
    pub fn timeout(mut self, timeout: Duration) -> Result<Self> {
        self.timeout = Some(duration("timeout", timeout, MAX_TIMEOUT, "1h")?);
        Ok(self)
    }

    /// Sets `max_var_binds_per_pdu` (1 to 10,000).
    pub fn max_var_binds_per_pdu(mut self, count_: u32) -> Result<Self> {
        self.max_var_binds_per_pdu = Some(count("max_var_binds_per_pdu", count_.into(), VAR_BINDS)?);
        Ok(self)
    }

    /// Sets `max_sessions` (1 to 1,000,000).
    pub fn max_sessions(mut self, count_: u32) -> Result<Self> {
        self.max_sessions = Some(count("max_sessions", count_.into(), SESSIONS)?);
        Ok(self)
    }

    /// Sets `deadline` (1 ms to 1 day).
    pub fn deadline(mut self, deadline: Duration) -> Result<Self> {
        self.deadline = Some(duration("deadline", deadline, MAX_DEADLINE, "24h")?);
        Ok(self)
    }

    /// Sets `walk_mode`.
    pub fn walk_mode(mut self, mode: WalkMode) -> Self {
        self.walk_mode = Some(mode);
        self
    }

    /// Sets the field named `field` (one of [`CONFIG_FIELDS`]) from a dynamically typed
    /// value, with the setters' checks: integers for counts, seconds (int or float) for
    /// `timeout` and `deadline`, a name for `walk_mode`. Every refusal is an
    /// [`Error::InvalidConfig`] naming the field and the value.
    pub fn set(self, field: &str, value: FieldValue<'_>) -> Result<Self> {
        let Some(&field) = CONFIG_FIELDS.iter().find(|&&name| name == field) else {
            return Err(Error::InvalidConfig {
                field: "config",
                reason: format!("unknown field {field:?} (known: {})", CONFIG_FIELDS.join(", ")),
            });
        };
        let invalid = |what: &str| Error::InvalidConfig { field, reason: format!("{value} is not {what}") };
        let outside =
            |range: String| Error::InvalidConfig { field, reason: format!("{value} is outside {range}") };
        let integer = |range: RangeInclusive<u32>| match value {
            FieldValue::Int(v) => count(field, v, range),
            FieldValue::HugeInt(_) => Err(outside(format!("{}..={}", range.start(), range.end()))),
            _ => Err(invalid("an integer")),
        };
        let seconds = || match value {
            FieldValue::Int(v) => Ok(v as f64),
            FieldValue::HugeInt(_) => Ok(f64::MAX),
            FieldValue::Float(v) if v.is_finite() => Ok(v),
            _ => Err(invalid("a number of seconds")),
        };
        let duration_of = |max: Duration, shown: &str| -> Result<Duration> {
            let s = seconds()?;
            let out_of_range =
                || Error::InvalidConfig { field, reason: format!("{value} is outside 0.001..={shown}") };
            let d = Duration::try_from_secs_f64(s).map_err(|_| out_of_range())?;
            duration(field, d, max, shown).map_err(|_| out_of_range())
        };
        Ok(match field {
            "retries" => Config { retries: Some(integer(RETRIES)?), ..self },
            "max_var_binds_per_pdu" => Config { max_var_binds_per_pdu: Some(integer(VAR_BINDS)?), ..self },
            "max_sessions" => Config { max_sessions: Some(integer(SESSIONS)?), ..self },
            "timeout" => Config { timeout: Some(duration_of(MAX_TIMEOUT, "3600")?), ..self },
            "deadline" => Config { deadline: Some(duration_of(MAX_DEADLINE, "86400")?), ..self },
            _ => match value {
                FieldValue::Text(name) => self.walk_mode(WalkMode::parse(name)?),
                _ => return Err(invalid("\"auto\", \"getbulk\" or \"getnext\"")),
            },
        })
    }

    /// Checks every set field (for configs built field by field, e.g. from Python or JSON).
    pub fn validate(self) -> Result<Self> {
        let mut checked = Config::new();
        if let Some(v) = self.retries {
            checked = checked.retries(v)?;
        }
        if let Some(v) = self.timeout {
            checked = checked.timeout(v)?;
        }
        if let Some(v) = self.max_var_binds_per_pdu {
            checked = checked.max_var_binds_per_pdu(v)?;
        }
        if let Some(v) = self.max_sessions {
            checked = checked.max_sessions(v)?;
        }
        if let Some(v) = self.deadline {
            checked = checked.deadline(v)?;
        }
        checked.walk_mode = self.walk_mode;
        Ok(checked)
    }

    /// `self`'s fields where set, `fallback`'s elsewhere.
    pub fn or(self, fallback: Config) -> Config {
        Config {
            retries: self.retries.or(fallback.retries),
            timeout: self.timeout.or(fallback.timeout),
            max_var_binds_per_pdu: self.max_var_binds_per_pdu.or(fallback.max_var_binds_per_pdu),
            max_sessions: self.max_sessions.or(fallback.max_sessions),
            deadline: self.deadline.or(fallback.deadline),
            walk_mode: self.walk_mode.or(fallback.walk_mode),
        }
    }

    /// Resolves every field: `self`, then `manager`, then the defaults.
    pub(crate) fn resolve(self, manager: Config) -> Settings {
        let merged = self.or(manager);
        Settings {
            retries: merged.retries.unwrap_or(DEFAULT_RETRIES),
            timeout: merged.timeout.unwrap_or(DEFAULT_TIMEOUT),
            max_var_binds_per_pdu: merged.max_var_binds_per_pdu.unwrap_or(DEFAULT_VAR_BINDS),
            max_sessions: merged.max_sessions.unwrap_or(DEFAULT_SESSIONS),
            deadline: merged.deadline,
            walk_mode: merged.walk_mode.unwrap_or_default(),
        }
    }
}

/// `value` when it lies in `range`.
fn count(field: &'static str, value: i128, range: RangeInclusive<u32>) -> Result<u32> {
    match u32::try_from(value) {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(Error::InvalidConfig {
            field,
            reason: format!("{value} is outside {}..={}", range.start(), range.end()),
        }),
    }
}

/// `value` when it lies in 1 ms..=`max` (`shown` is `max` as the message writes it).
fn duration(field: &'static str, value: Duration, max: Duration, shown: &str) -> Result<Duration> {
    if (MIN_TIMEOUT..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidConfig { field, reason: format!("{value:?} is outside 1ms..={shown}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_request_then_manager_then_default() {
        let manager = Config::new().retries(1).unwrap().max_sessions(10).unwrap();
        let request = Config::new().retries(0).unwrap().timeout(Duration::from_millis(200)).unwrap();
        let settings = request.resolve(manager);
        assert_eq!(settings.retries, 0);
        assert_eq!(settings.timeout, Duration::from_millis(200));
        assert_eq!(settings.max_sessions, 10);
        assert_eq!(settings.max_var_binds_per_pdu, 25);
        let defaults = Config::new().resolve(Config::new());
        assert_eq!(defaults.retries, 3);
        assert_eq!(defaults.timeout, Duration::from_secs(1));
        assert_eq!(defaults.max_sessions, 256);
        assert_eq!(defaults.deadline, None);
        let manager = Config::new().deadline(Duration::from_secs(30)).unwrap();
        assert_eq!(Config::new().resolve(manager).deadline, Some(Duration::from_secs(30)));
    }

    #[test]
    fn rejects_zero_and_absurd_values_naming_the_field() {
        let cases = [
            Config::new().timeout(Duration::ZERO).unwrap_err(),
            Config::new().timeout(Duration::from_secs(86_400)).unwrap_err(),
            Config::new().retries(1_000).unwrap_err(),
            Config::new().max_var_binds_per_pdu(0).unwrap_err(),
            Config::new().max_sessions(0).unwrap_err(),
            Config::new().deadline(Duration::ZERO).unwrap_err(),
        ];
        let fields = ["timeout", "timeout", "retries", "max_var_binds_per_pdu", "max_sessions", "deadline"];
        for (err, field) in cases.iter().zip(fields) {
            assert!(err.to_string().starts_with(&format!("invalid config {field}:")), "{err}");
        }
        let raw = Config { max_sessions: Some(0), ..Config::new() };
        assert!(raw.validate().is_err());
    }

    #[test]
    fn set_checks_dynamic_values_naming_field_and_value() {
        let ok = Config::new()
            .set("retries", FieldValue::Int(2))
            .and_then(|c| c.set("timeout", FieldValue::Float(0.25)))
            .and_then(|c| c.set("deadline", FieldValue::Int(30)))
            .and_then(|c| c.set("walk_mode", FieldValue::Text("GetNext")))
            .unwrap();
        assert_eq!(ok.retries, Some(2));
        assert_eq!(ok.timeout, Some(Duration::from_millis(250)));
        assert_eq!(ok.deadline, Some(Duration::from_secs(30)));
        assert_eq!(ok.walk_mode, Some(WalkMode::GetNext));
        let message =
            |field: &str, value: FieldValue<'_>| Config::new().set(field, value).unwrap_err().to_string();
        assert_eq!(message("retries", FieldValue::Int(-1)), "invalid config retries: -1 is outside 0..=100");
        assert_eq!(
            message("max_sessions", FieldValue::Int(1 << 40)),
            "invalid config max_sessions: 1099511627776 is outside 1..=1000000"
        );
        assert_eq!(
            message("max_var_binds_per_pdu", FieldValue::Int(0)),
            "invalid config max_var_binds_per_pdu: 0 is outside 1..=10000"
        );
        assert_eq!(
            message("timeout", FieldValue::Text("1")),
            "invalid config timeout: \"1\" is not a number of seconds"
        );
        assert_eq!(
            message("timeout", FieldValue::Float(f64::NAN)),
            "invalid config timeout: NaN is not a number of seconds"
        );
        assert_eq!(
            message("timeout", FieldValue::Float(-1.0)),
            "invalid config timeout: -1 is outside 0.001..=3600"
        );
        assert_eq!(
            message("deadline", FieldValue::Int(100_000)),
            "invalid config deadline: 100000 is outside 0.001..=86400"
        );
        assert_eq!(
            message("retries", FieldValue::Float(1.5)),
            "invalid config retries: 1.5 is not an integer"
        );
        assert_eq!(
            message("retries", FieldValue::Other("a list")),
            "invalid config retries: a list is not an integer"
        );
        assert!(message("walk_mode", FieldValue::Text("bulk"))
            .starts_with("invalid config walk_mode: \"bulk\" is not"));
        assert!(message("retry", FieldValue::Int(1)).contains("unknown field \"retry\""));
    }
}
