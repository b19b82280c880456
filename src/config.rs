//! Collection settings and their precedence: request > manager > [defaults](Config::DEFAULT).

use std::time::Duration;

use crate::error::{Error, Result};

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
}

/// Settings with every field resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub retries: u32,
    pub timeout: Duration,
    pub max_var_binds_per_pdu: u32,
    pub max_sessions: u32,
    pub deadline: Option<Duration>,
}

const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_VAR_BINDS: u32 = 25;
const DEFAULT_SESSIONS: u32 = 256;
const MAX_RETRIES: u32 = 100;
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_VAR_BINDS: u32 = 10_000;
const MAX_SESSIONS: u32 = 1_000_000;
const MAX_DEADLINE: Duration = Duration::from_secs(86_400);

impl Config {
    /// The defaults, applied under every manager and request config.
    pub const DEFAULT: Config = Config {
        retries: Some(DEFAULT_RETRIES),
        timeout: Some(DEFAULT_TIMEOUT),
        max_var_binds_per_pdu: Some(DEFAULT_VAR_BINDS),
        max_sessions: Some(DEFAULT_SESSIONS),
        deadline: None,
    };

    /// A config with nothing set.
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets `retries` (0 to 100).
    pub fn retries(mut self, retries: u32) -> Result<Self> {
        if retries > MAX_RETRIES {
            return Err(Error::InvalidConfig {
                field: "retries",
                reason: format!("{retries} is more than {MAX_RETRIES}"),
            });
        }
        self.retries = Some(retries);
        Ok(self)
    }

    /// Sets `timeout` (1 ms to 1 hour).
    pub fn timeout(mut self, timeout: Duration) -> Result<Self> {
        self.timeout = Some(duration("timeout", timeout, MAX_TIMEOUT, "1h")?);
        Ok(self)
    }

    /// Sets `max_var_binds_per_pdu` (1 to 10,000).
    pub fn max_var_binds_per_pdu(mut self, count: u32) -> Result<Self> {
        if !(1..=MAX_VAR_BINDS).contains(&count) {
            return Err(Error::InvalidConfig {
                field: "max_var_binds_per_pdu",
                reason: format!("{count} is outside 1..={MAX_VAR_BINDS}"),
            });
        }
        self.max_var_binds_per_pdu = Some(count);
        Ok(self)
    }

    /// Sets `max_sessions` (1 to 1,000,000).
    pub fn max_sessions(mut self, count: u32) -> Result<Self> {
        if !(1..=MAX_SESSIONS).contains(&count) {
            return Err(Error::InvalidConfig {
                field: "max_sessions",
                reason: format!("{count} is outside 1..={MAX_SESSIONS}"),
            });
        }
        self.max_sessions = Some(count);
        Ok(self)
    }

    /// Sets `deadline` (1 ms to 1 day).
    pub fn deadline(mut self, deadline: Duration) -> Result<Self> {
        self.deadline = Some(duration("deadline", deadline, MAX_DEADLINE, "24h")?);
        Ok(self)
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
        }
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
}
