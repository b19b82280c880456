//! Counter rates between two polls: per (host, OID) deltas and per-second rates of the
//! Counter32 and Counter64 varbinds of any buffers, with wraps handled and discontinuities
//! (an agent restart, a counter that went backwards, an impossible rate) given as a reason
//! instead of a number. For `snmp_stream.parse.rates`.

use std::collections::HashMap;

use super::ParseError;
use crate::encode::{Record, ResultBuffer};
use crate::oid::format_subids;
use crate::tag;

/// sysUpTime.0: the agent's uptime in hundredths of a second, which tells a restart.
const SYS_UP_TIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];

/// One poll's buffers, each with the agent it came from (`""` when unknown: then OIDs alone
/// identify a counter).
pub type Poll<'a> = [(&'a str, &'a [u8])];

/// Why a counter has no rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discontinuity {
    /// The counter is not in the previous poll.
    NoPrevious,
    /// Its type changed between the polls.
    TypeChanged,
    /// The two samples were taken at the same time (or the clock went backwards).
    NoTime,
    /// The agent restarted between the polls (its sysUpTime is shorter than the time between
    /// them, or went backwards): every counter of that agent started again.
    Restart,
    /// A Counter64 went backwards (reset: it cannot wrap between two polls).
    Backwards,
    /// The rate is above the given maximum (a reset taken for a wrap, or a bad value).
    AboveMaxRate,
}

impl Discontinuity {
    /// A short name: `no_previous`, `type_changed`, `no_time`, `restart`, `backwards`,
    /// `above_max_rate`.
    pub fn name(self) -> &'static str {
        match self {
            Discontinuity::NoPrevious => "no_previous",
            Discontinuity::TypeChanged => "type_changed",
            Discontinuity::NoTime => "no_time",
            Discontinuity::Restart => "restart",
            Discontinuity::Backwards => "backwards",
            Discontinuity::AboveMaxRate => "above_max_rate",
        }
    }
}

/// The counters of the current poll, one row each, in its order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CounterRates {
    /// Which of the current poll's buffers the row comes from.
    pub buffer: Vec<u32>,
    /// The full OID (`.1.3...`), its root and its index (`2.1`), as text.
    pub oid: Vec<String>,
    /// The root OID the counter was walked or got under.
    pub root: Vec<String>,
    /// The sub-ids after the root.
    pub index: Vec<String>,
    /// `tag::COUNTER32` or `tag::COUNTER64`.
    pub value_type: Vec<u8>,
    /// The previous sample (0 when there is none).
    pub previous: Vec<u64>,
    /// The current sample.
    pub current: Vec<u64>,
    /// How much the counter grew (a Counter32 wrap counted); `None` at a discontinuity.
    pub delta: Vec<Option<u64>>,
    /// Seconds between the two samples (their arrival times; 0 without a previous sample).
    pub seconds: Vec<f64>,
    /// `delta / seconds`; `None` at a discontinuity.
    pub rate: Vec<Option<f64>>,
    /// Why there is no delta, or `None`.
    pub discontinuity: Vec<Option<Discontinuity>>,
}

struct Sample {
    value_type: u8,
    value: u64,
    at_us: u64,
}

fn counter(record: &Record<'_>) -> Option<u64> {
    match (record.value_type, record.value) {
        (tag::COUNTER32, &[a, b, c, d]) => Some(u64::from(u32::from_le_bytes([a, b, c, d]))),
        (tag::COUNTER64, &[a, b, c, d, e, f, g, h]) => Some(u64::from_le_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// Every record of a poll with its host, full OID and arrival time (µs since the epoch).
fn visit_poll<'a>(
    poll: &Poll<'a>,
    mut visit: impl FnMut(usize, &'a str, &[u32], &[u32], Record<'a>, u64),
) -> Result<(), ParseError> {
    let mut oid = Vec::new();
    for (buffer, (host, bytes)) in poll.iter().enumerate() {
        let header =
            ResultBuffer::parse_header(bytes).map_err(|error| ParseError::Format { buffer, error })?;
        header
            .visit_records(|record| {
                let root = &header.roots[usize::from(record.root_index)];
                oid.clear();
                oid.extend_from_slice(root);
                oid.extend(record.index());
                let at = header.start_us + u64::from(record.time_ms) * 1000;
                visit(buffer, host, &oid, root, record, at);
            })
            .map_err(|error| ParseError::Format { buffer, error })?;
    }
    Ok(())
}

/// The Counter32 and Counter64 varbinds of `current`, each with its delta and rate since
/// `previous` (the same host and OID). A Counter32 that went down wrapped (2^32 added); a
/// Counter64 that went down was reset. An agent whose sysUpTime.0 is in both polls and shows a
/// restart between them gets no rates at all. With `max_rate`, a rate above it is a
/// discontinuity too (a counter reset taken for a wrap).
pub fn counter_rates(
    previous: &Poll<'_>,
    current: &Poll<'_>,
    max_rate: Option<f64>,
) -> Result<CounterRates, ParseError> {
    let mut before: HashMap<(&str, Vec<u32>), Sample> = HashMap::new();
    let mut uptime_before: HashMap<&str, (u32, u64)> = HashMap::new();
    visit_poll(previous, |_, host, oid, _, record, at_us| {
        if oid == SYS_UP_TIME {
            if let (tag::TIMETICKS, &[a, b, c, d]) = (record.value_type, record.value) {
                uptime_before.insert(host, (u32::from_le_bytes([a, b, c, d]), at_us));
            }
        } else if let Some(value) = counter(&record) {
            before.insert((host, oid.to_vec()), Sample { value_type: record.value_type, value, at_us });
        }
    })?;
    // One pass over the current poll: the rows, and which agents restarted between the polls
    // (their sysUpTime.0 may come after their counters), applied to their rows at the end.
    let mut restarted: HashMap<&str, bool> = HashMap::new();
    let mut row_hosts = Vec::new();
    let mut out = CounterRates::default();
    visit_poll(current, |buffer, host, oid, root, record, at_us| {
        if let (true, tag::TIMETICKS, &[a, b, c, d]) = (oid == SYS_UP_TIME, record.value_type, record.value) {
            if let Some(&(ticks_before, at_before)) = uptime_before.get(host) {
                let ticks = u32::from_le_bytes([a, b, c, d]);
                let elapsed = at_us.saturating_sub(at_before) as f64 / 1e6;
                // Up for less than the time between the polls (1 s of slack for the clocks).
                let restart = ticks < ticks_before || f64::from(ticks) / 100.0 + 1.0 < elapsed;
                restarted.insert(host, restart);
            }
            return;
        }
        let Some(value) = counter(&record) else { return };
        let t = record.value_type;
        let (previous_value, seconds, result) = match before.get(&(host, oid.to_vec())) {
            None => (0, 0.0, Err(Discontinuity::NoPrevious)),
            Some(sample) => {
                let seconds = at_us.saturating_sub(sample.at_us) as f64 / 1e6;
                let result = if sample.value_type != t {
                    Err(Discontinuity::TypeChanged)
                } else if at_us <= sample.at_us {
                    Err(Discontinuity::NoTime)
                } else if value >= sample.value {
                    Ok(value - sample.value)
                } else if t == tag::COUNTER32 {
                    Ok(value + (1u64 << 32) - sample.value)
                } else {
                    Err(Discontinuity::Backwards)
                };
                let result = result.and_then(|delta| match max_rate {
                    Some(max) if delta as f64 / seconds > max => Err(Discontinuity::AboveMaxRate),
                    _ => Ok(delta),
                });
                (sample.value, seconds, result)
            }
        };
        row_hosts.push(host);
        out.buffer.push(buffer as u32);
        out.oid.push(format_subids(oid));
        out.root.push(format_subids(root));
        let index = format_subids(&oid[root.len()..]);
        out.index.push(index.strip_prefix('.').unwrap_or(&index).to_owned());
        out.value_type.push(t);
        out.previous.push(previous_value);
        out.current.push(value);
        out.seconds.push(seconds);
        out.delta.push(result.ok());
        out.rate.push(result.ok().map(|delta| delta as f64 / seconds));
        out.discontinuity.push(result.err());
    })?;
    // A restart outranks what the two samples alone say, once both samples are comparable.
    for (row, host) in row_hosts.into_iter().enumerate() {
        let comparable =
            !matches!(out.discontinuity[row], Some(Discontinuity::NoPrevious | Discontinuity::TypeChanged));
        if comparable && restarted.get(host) == Some(&true) {
            (out.delta[row], out.rate[row], out.discontinuity[row]) =
                (None, None, Some(Discontinuity::Restart));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ber::Value;
    use crate::encode::Encoder;
    use crate::request::RequestKind;

    const IF_IN: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 10];
    const IF_HC_IN: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6];

    /// One poll: sysUpTime (ticks), ifInOctets.1 (Counter32) and ifHCInOctets.1 (Counter64),
    /// collected at `at_s` seconds.
    fn poll(at_s: u64, uptime: u32, c32: u32, c64: u64) -> Vec<u8> {
        let roots: [&[u32]; 3] = [&SYS_UP_TIME, &IF_IN, &IF_HC_IN];
        let mut enc = Encoder::new(RequestKind::Walk, at_s * 1_000_000, b"", &roots);
        enc.record(0, &[], &Value::Unsigned(tag::TIMETICKS, uptime), 0);
        enc.record(1, &[1], &Value::Unsigned(tag::COUNTER32, c32), 0);
        enc.record(2, &[1], &Value::Unsigned64(tag::COUNTER64, c64), 0);
        enc.finish()
    }

    fn rates(a: &[u8], b: &[u8], max_rate: Option<f64>) -> CounterRates {
        counter_rates(&[("r1", a)], &[("r1", b)], max_rate).unwrap()
    }

    #[test]
    fn deltas_and_rates() {
        let r = rates(&poll(100, 5_000, 1_000, 10), &poll(110, 6_000, 6_000, 1_000_010), None);
        assert_eq!(r.oid, [".1.3.6.1.2.1.2.2.1.10.1", ".1.3.6.1.2.1.31.1.1.1.6.1"]);
        assert_eq!((r.root[0].as_str(), r.index[0].as_str()), (".1.3.6.1.2.1.2.2.1.10", "1"));
        assert_eq!(r.delta, [Some(5_000), Some(1_000_000)]);
        assert_eq!(r.seconds, [10.0, 10.0]);
        assert_eq!(r.rate, [Some(500.0), Some(100_000.0)]);
        assert_eq!(r.discontinuity, [None, None]);
        assert_eq!(r.value_type, [tag::COUNTER32, tag::COUNTER64]);
    }

    #[test]
    fn wraps_resets_and_restarts() {
        // Counter32 wraps (2^32 - 100 -> 50: 150 more); a Counter64 going down is a reset.
        let r = rates(&poll(0, 5_000, u32::MAX - 99, 500), &poll(10, 6_000, 50, 400), None);
        assert_eq!(r.delta, [Some(150), None]);
        assert_eq!(r.discontinuity, [None, Some(Discontinuity::Backwards)]);
        // Counter64 near its top still counts up.
        let r = rates(&poll(0, 5_000, 0, u64::MAX - 10), &poll(10, 6_000, 0, u64::MAX), None);
        assert_eq!(r.delta[1], Some(10));
        // Restart: sysUpTime went backwards, or is shorter than the 100 s between the polls.
        for uptime in [4_000, 2_000] {
            let r = rates(&poll(0, 5_000, 1_000, 1_000), &poll(100, uptime, 2_000, 2_000), None);
            assert_eq!(r.discontinuity, [Some(Discontinuity::Restart); 2], "uptime {uptime}");
            assert_eq!((r.delta[0], r.rate[0]), (None, None));
        }
        // A reset of a Counter32 looks like a wrap, unless the rate it implies is impossible.
        let r = rates(&poll(0, 5_000, 1_000_000, 0), &poll(10, 6_000, 10, 0), Some(1e8));
        assert_eq!(r.discontinuity[0], Some(Discontinuity::AboveMaxRate));
        let r = rates(&poll(0, 5_000, 1_000_000, 0), &poll(10, 6_000, 10, 0), None);
        assert_eq!(r.delta[0], Some((1 << 32) + 10 - 1_000_000));
    }

    #[test]
    fn samples_are_matched_by_host_and_oid() {
        let (a, b) = (poll(0, 100, 1, 1), poll(10, 1_100, 11, 21));
        let r = counter_rates(&[("r1", &a)], &[("r2", &b), ("r1", &b)], None).unwrap();
        assert_eq!(r.buffer, [0, 0, 1, 1]);
        assert_eq!(r.discontinuity[..2], [Some(Discontinuity::NoPrevious); 2]);
        assert_eq!(r.delta[2..], [Some(10), Some(20)]);
        assert_eq!(r.previous[2..], [1, 1]);
        // The same time twice: no rate.
        assert_eq!(rates(&a, &a, None).discontinuity, [Some(Discontinuity::NoTime); 2]);
        assert!(matches!(
            counter_rates(&[("r1", &a)], &[("r1", b"junk")], None),
            Err(ParseError::Format { buffer: 0, .. })
        ));
    }
}
