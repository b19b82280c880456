//! Object identifiers and index ranges.
//!
//! An [`Oid`] is a sequence of 32-bit sub-identifiers (RFC 2578 §7.1.3 limits sub-ids to
//! 2^32-1 and OIDs to 128 sub-ids, net-snmp's `MAX_OID_LEN`). Ordering is lexicographic, the
//! order agents walk in (net-snmp's `snmp_oid_compare`).
//!
//! An [`OidRange`] restricts a request to part of a table: it is a range of *index* suffixes,
//! appended to every root OID of the request. `start` is inclusive; `stop` is inclusive and
//! covers its whole subtree, so the range `[5] ..= [7]` holds index `5`, `6.1.2`, `7` and
//! `7.3`, but not `8`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The most sub-identifiers an OID may have (net-snmp's `MAX_OID_LEN`).
pub const MAX_OID_LEN: usize = 128;

/// An SNMP object identifier, such as `1.3.6.1.2.1.1.1.0`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Oid(Vec<u32>);

impl Oid {
    /// Builds an OID from sub-identifiers. Fails when there are more than [`MAX_OID_LEN`].
    pub fn new(subids: impl Into<Vec<u32>>) -> Result<Self> {
        let subids = subids.into();
        if subids.len() > MAX_OID_LEN {
            return Err(Error::InvalidOid {
                input: format_subids(&subids),
                reason: format!(
                    "has {} sub-identifiers, more than the {MAX_OID_LEN} SNMP allows",
                    subids.len()
                ),
            });
        }
        Ok(Oid(subids))
    }

    /// Parses dotted notation: `1.3.6.1`, with or without a leading dot.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidOid { input: text.to_owned(), reason };
        let body = text.strip_prefix('.').unwrap_or(text);
        if body.is_empty() {
            return Err(invalid("is empty".into()));
        }
        let mut subids = Vec::new();
        for (position, part) in body.split('.').enumerate() {
            if part.is_empty() {
                return Err(invalid(format!("sub-identifier {} is empty", position + 1)));
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!("sub-identifier {} ({part:?}) is not a number", position + 1)));
            }
            let value = part.parse::<u32>().map_err(|_| {
                invalid(format!("sub-identifier {} ({part}) is larger than {}", position + 1, u32::MAX))
            })?;
            subids.push(value);
        }
        Oid::new(subids).map_err(|_| invalid(format!("has more than {MAX_OID_LEN} sub-identifiers")))
    }

    /// The sub-identifiers.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// The number of sub-identifiers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty OID (only meaningful as an index).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `self` is a prefix of (or equal to) `other`: `other` lies in `self`'s subtree.
    pub fn is_prefix_of(&self, other: &[u32]) -> bool {
        other.starts_with(&self.0)
    }

    /// `self` followed by `suffix`.
    pub fn join(&self, suffix: &[u32]) -> Oid {
        let mut subids = Vec::with_capacity(self.0.len() + suffix.len());
        subids.extend_from_slice(&self.0);
        subids.extend_from_slice(suffix);
        Oid(subids)
    }
}

/// Sub-ids as text with a leading dot, as `snmpwalk -On` prints an OID (`.1.3.6.1`).
pub fn format_subids(subids: &[u32]) -> String {
    let mut out = String::with_capacity(subids.len() * 3);
    for subid in subids {
        out.push('.');
        out.push_str(&subid.to_string());
    }
    out
}

impl fmt::Display for Oid {
    /// Numeric form with a leading dot, as `snmpwalk -On` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_subids(&self.0))
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl FromStr for Oid {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        Oid::parse(text)
    }
}

impl TryFrom<&str> for Oid {
    type Error = Error;
    fn try_from(text: &str) -> Result<Self> {
        Oid::parse(text)
    }
}

impl TryFrom<Vec<u32>> for Oid {
    type Error = Error;
    fn try_from(subids: Vec<u32>) -> Result<Self> {
        Oid::new(subids)
    }
}

impl TryFrom<&[u32]> for Oid {
    type Error = Error;
    fn try_from(subids: &[u32]) -> Result<Self> {
        Oid::new(subids)
    }
}

impl AsRef<[u32]> for Oid {
    fn as_ref(&self) -> &[u32] {
        &self.0
    }
}

impl PartialOrd for Oid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Oid {
    /// Lexicographic order, the order in which agents walk.
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// Compares two range upper bounds, each covering its own subtree: a stop that is a prefix of
/// another covers more.
fn cmp_upper(a: &Oid, b: &Oid) -> Ordering {
    if a == b {
        Ordering::Equal
    } else if a.is_prefix_of(&b.0) {
        Ordering::Greater
    } else if b.is_prefix_of(&a.0) {
        Ordering::Less
    } else {
        a.cmp(b)
    }
}

/// A range of index suffixes: `start` (inclusive) to `stop` (inclusive, with its subtree).
/// `None` leaves that side unbounded.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct OidRange {
    start: Option<Oid>,
    stop: Option<Oid>,
}

impl OidRange {
    /// A range from `start` to `stop`; fails when `start` lies beyond `stop`'s subtree.
    pub fn new(start: Option<Oid>, stop: Option<Oid>) -> Result<Self> {
        if let (Some(start), Some(stop)) = (&start, &stop) {
            if start > stop && !stop.is_prefix_of(start.as_slice()) {
                return Err(Error::InvalidRange(format!("start {start} is after stop {stop}")));
            }
        }
        Ok(OidRange { start, stop })
    }

    /// The range holding exactly one index (and, for walks, its subtree).
    pub fn point(index: Oid) -> Self {
        OidRange { start: Some(index.clone()), stop: Some(index) }
    }

    /// The inclusive lower bound, if any.
    pub fn start(&self) -> Option<&Oid> {
        self.start.as_ref()
    }

    /// The inclusive (subtree-covering) upper bound, if any.
    pub fn stop(&self) -> Option<&Oid> {
        self.stop.as_ref()
    }

    /// True for a single-index range, the only kind a GET accepts.
    pub fn is_point(&self) -> bool {
        self.start.is_some() && self.start == self.stop
    }

    /// True when `index` falls inside the range.
    pub fn contains(&self, index: &[u32]) -> bool {
        let above_start = self.start.as_ref().map_or(true, |s| index >= s.as_slice());
        let below_stop = self.stop.as_ref().map_or(true, |s| index <= s.as_slice() || s.is_prefix_of(index));
        above_start && below_stop
    }

    /// Sorts ranges by start, drops duplicates and merges overlapping ones.
    pub fn normalize(mut ranges: Vec<OidRange>) -> Vec<OidRange> {
        ranges.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| b.upper_cmp(a)));
        let mut merged: Vec<OidRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            if let Some(last) = merged.last_mut() {
                let overlaps = match &range.start {
                    None => true,
                    Some(start) => last.contains(start.as_slice()),
                };
                if overlaps {
                    if range.upper_cmp(last) == Ordering::Greater {
                        last.stop = range.stop;
                    }
                    continue;
                }
            }
            merged.push(range);
        }
        merged
    }

    fn upper_cmp(&self, other: &OidRange) -> Ordering {
        match (&self.stop, &other.stop) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => cmp_upper(a, b),
        }
    }
}

impl fmt::Debug for OidRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |bound: &Option<Oid>| bound.as_ref().map_or("*".to_owned(), Oid::to_string);
        write!(f, "OidRange({}..={})", side(&self.start), side(&self.stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(text: &str) -> Oid {
        Oid::parse(text).unwrap()
    }

    fn range(start: &str, stop: &str) -> OidRange {
        OidRange::new(Some(oid(start)), Some(oid(stop))).unwrap()
    }

    #[test]
    fn parses_dotted_forms() {
        assert_eq!(oid("1.3.6.1").as_slice(), &[1, 3, 6, 1]);
        assert_eq!(oid(".1.3.6.1").as_slice(), &[1, 3, 6, 1]);
        assert_eq!(oid("4294967295").as_slice(), &[u32::MAX]);
        assert_eq!(oid(".1.3.6.1").to_string(), ".1.3.6.1");
    }

    #[test]
    fn rejects_junk_naming_the_bad_part() {
        for (input, fragment) in [
            ("", "is empty"),
            (".", "is empty"),
            ("1..3", "sub-identifier 2 is empty"),
            ("1.3.", "sub-identifier 3 is empty"),
            ("1.3.six", "\"six\""),
            ("1.-3", "\"-3\""),
            (" 1.3", "\" 1\""),
            ("1.4294967296", "larger than"),
            ("iso.3.6", "\"iso\""),
        ] {
            let message = Oid::parse(input).unwrap_err().to_string();
            assert!(message.contains(fragment), "{input:?}: {message}");
            assert!(message.contains(&format!("{input:?}")), "{input:?}: {message}");
        }
        let long = vec!["1"; MAX_OID_LEN + 1].join(".");
        assert!(Oid::parse(&long).unwrap_err().to_string().contains("128"));
    }

    #[test]
    fn orders_lexicographically_and_tests_prefixes() {
        assert!(oid("1.3.6.1.2") < oid("1.3.6.1.2.1"));
        assert!(oid("1.3.6.1.2.1") < oid("1.3.6.1.3"));
        assert!(oid("1.3.6.1.10") > oid("1.3.6.1.9.9"));
        assert!(oid("1.3.6").is_prefix_of(oid("1.3.6.1").as_slice()));
        assert!(oid("1.3.6").is_prefix_of(oid("1.3.6").as_slice()));
        assert!(!oid("1.3.6.1").is_prefix_of(oid("1.3.6").as_slice()));
        assert_eq!(oid("1.3").join(&[6, 1]), oid("1.3.6.1"));
    }

    #[test]
    fn range_bounds_are_inclusive_and_stop_covers_its_subtree() {
        let r = range("5", "7");
        for inside in [&[5][..], &[5, 1], &[6, 9, 9], &[7], &[7, 3]] {
            assert!(r.contains(inside), "{inside:?}");
        }
        for outside in [&[4][..], &[4, 99], &[8], &[8, 0]] {
            assert!(!r.contains(outside), "{outside:?}");
        }
        assert!(OidRange::new(None, None).unwrap().contains(&[1, 2, 3]));
        assert!(OidRange::point(oid("3")).is_point());
        assert!(!range("3", "4").is_point());
    }

    #[test]
    fn rejects_backwards_ranges() {
        let err = OidRange::new(Some(oid("9")), Some(oid("2"))).unwrap_err();
        assert!(err.to_string().contains("start .9 is after stop .2"), "{err}");
        // A start inside the stop's subtree is fine.
        assert!(OidRange::new(Some(oid("2.5")), Some(oid("2"))).is_ok());
    }

    #[test]
    fn normalize_sorts_dedups_and_merges() {
        let merged = OidRange::normalize(vec![
            range("20", "30"),
            range("1", "5"),
            range("1", "5"),
            range("4", "8"),
            range("8.1", "9"),
            range("25", "26"),
        ]);
        assert_eq!(merged, vec![range("1", "9"), range("20", "30")]);
        let with_open =
            OidRange::normalize(vec![range("3", "4"), OidRange::new(Some(oid("2")), None).unwrap()]);
        assert_eq!(with_open, vec![OidRange::new(Some(oid("2")), None).unwrap()]);
        // A stop that is a prefix covers more than a longer stop below it.
        let prefix = OidRange::normalize(vec![range("1", "2"), range("2.3", "2.4")]);
        assert_eq!(prefix, vec![range("1", "2")]);
    }
}
