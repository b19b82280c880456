//! What to collect: [`Request`] (GET or WALK of root OIDs on one agent), its [`Credentials`]
//! (a [`Community`] for v1/v2c, [`Usm`] for v3) and protocol [`Version`].

use std::fmt;
use std::net::Ipv6Addr;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::oid::{Oid, OidRange, MAX_OID_LEN};
use crate::usm::Usm;

/// SNMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// SNMPv1 (RFC 1157): walks use GETNEXT.
    V1,
    /// SNMPv2c (RFC 1901, 3416): walks use GETBULK.
    V2c,
    /// SNMPv3 with the User-based Security Model (RFC 3412, 3414): walks use GETBULK.
    V3,
}

impl Version {
    /// `"v1"`, `"v2c"` or `"v3"`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2c => "v2c",
            Version::V3 => "v3",
        }
    }

    /// Parses `1`, `v1`, `2c`, `v2c`, `3`, `v3` (any case), as net-snmp's `-v` takes them.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "1" | "v1" => Ok(Version::V1),
            "2c" | "v2c" | "2" | "v2" => Ok(Version::V2c),
            "3" | "v3" => Ok(Version::V3),
            _ => Err(Error::InvalidCommunity(format!(
                "unknown SNMP version {text:?} (expected \"v1\", \"v2c\" or \"v3\")"
            ))),
        }
    }
}

/// A community string and the protocol version it is used with.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Community {
    string: String,
    version: Version,
}

/// Longest community accepted (SNMP-COMMUNITY-MIB's snmpCommunityName is at most 255 octets).
const MAX_COMMUNITY_LEN: usize = 255;

impl Community {
    /// Checks the community: 1 to 255 bytes, no NUL, and a v1 or v2c version (v3 uses
    /// [`Usm`]).
    pub fn new(string: impl Into<String>, version: Version) -> Result<Self> {
        let string = string.into();
        if version == Version::V3 {
            return Err(Error::InvalidCommunity(
                "SNMPv3 has no community: give Usm credentials (a user and its keys)".into(),
            ));
        }
        if string.is_empty() {
            return Err(Error::InvalidCommunity("the community string is empty".into()));
        }
        if string.len() > MAX_COMMUNITY_LEN {
            return Err(Error::InvalidCommunity(format!(
                "the community string is {} bytes, more than {MAX_COMMUNITY_LEN}",
                string.len()
            )));
        }
        if string.contains('\0') {
            return Err(Error::InvalidCommunity("the community string contains a NUL byte".into()));
        }
        Ok(Community { string, version })
    }

    /// The community string.
    pub fn string(&self) -> &str {
        &self.string
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }
}

impl fmt::Debug for Community {
    /// Communities are credentials: `Debug` hides the string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Community(***, {})", self.version.name())
    }
}

/// Who a request speaks as: a community (v1, v2c) or a USM user (v3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credentials {
    /// SNMPv1/v2c.
    Community(Community),
    /// SNMPv3.
    Usm(Usm),
}

impl Credentials {
    /// The protocol version these credentials are used with.
    pub fn version(&self) -> Version {
        match self {
            Credentials::Community(community) => community.version(),
            Credentials::Usm(_) => Version::V3,
        }
    }
}

impl From<Community> for Credentials {
    fn from(community: Community) -> Self {
        Credentials::Community(community)
    }
}

impl From<Usm> for Credentials {
    fn from(usm: Usm) -> Self {
        Credentials::Usm(usm)
    }
}

/// GET or WALK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// GET each root OID (with each point index range appended).
    Get,
    /// Walk each root OID's subtree (within the index ranges): GETBULK on v2c, GETNEXT on v1.
    Walk,
}

impl RequestKind {
    /// `"get"` or `"walk"`.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Get => "get",
            RequestKind::Walk => "walk",
        }
    }
}

/// One collection job: a GET or WALK of one or more root OIDs on one agent.
///
/// Built with [`Request::get`] or [`Request::walk`], which return a [`RequestBuilder`]; `build`
/// validates everything, so a `Request` that exists can be sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    kind: RequestKind,
    host: String,
    credentials: Credentials,
    oids: Vec<Oid>,
    ranges: Vec<OidRange>,
    req_id: Option<Vec<u8>>,
    config: Config,
    tag: u64,
}

/// Longest request id accepted, in bytes.
pub const MAX_REQ_ID_LEN: usize = 65_535;
/// Most root OIDs one request may carry (the result format indexes roots with a u16).
pub const MAX_ROOTS: usize = 65_535;

impl Request {
    /// Starts a GET request.
    pub fn get(
        host: impl Into<String>,
        credentials: impl Into<Credentials>,
        oids: impl IntoIterator<Item = Oid>,
    ) -> RequestBuilder {
        RequestBuilder::new(RequestKind::Get, host.into(), credentials.into(), oids.into_iter().collect())
    }

    /// Starts a WALK request.
    pub fn walk(
        host: impl Into<String>,
        credentials: impl Into<Credentials>,
        oids: impl IntoIterator<Item = Oid>,
    ) -> RequestBuilder {
        RequestBuilder::new(RequestKind::Walk, host.into(), credentials.into(), oids.into_iter().collect())
    }

    /// GET or WALK.
    pub fn kind(&self) -> RequestKind {
        self.kind
    }
    /// The agent, as net-snmp takes it (`host`, `host:port`, `udp6:[::1]:161`, `tcp:host:port`).
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The community (v1, v2c) or USM user (v3).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
    /// The protocol version.
    pub fn version(&self) -> Version {
        self.credentials.version()
    }
    /// The root OIDs, in the order given (the result buffer's root index refers to it).
    pub fn oids(&self) -> &[Oid] {
        &self.oids
    }
    /// The index ranges, sorted and merged; empty means the whole subtree (WALK) or the root
    /// itself (GET).
    pub fn ranges(&self) -> &[OidRange] {
        &self.ranges
    }
    /// The caller's request id, copied into the response and the result buffer.
    pub fn req_id(&self) -> Option<&[u8]> {
        self.req_id.as_deref()
    }
    /// This request's own settings (over the manager's).
    pub fn config(&self) -> Config {
        self.config
    }
    /// The caller's bookkeeping number; 0 unless set with [`with_tag`](Self::with_tag).
    pub fn tag(&self) -> u64 {
        self.tag
    }
    /// Sets a number for the caller's own bookkeeping (e.g. to find the object a binding built
    /// the request from). The engine ignores it; it is not written to the result buffer.
    pub fn with_tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }
}

/// Builds and validates a [`Request`].
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the Request"]
pub struct RequestBuilder {
    request: Request,
}

impl RequestBuilder {
    fn new(kind: RequestKind, host: String, credentials: Credentials, oids: Vec<Oid>) -> Self {
        RequestBuilder {
            request: Request {
                kind,
                host,
                credentials,
                oids,
                ranges: Vec::new(),
                req_id: None,
                config: Config::new(),
                tag: 0,
            },
        }
    }

    /// Restricts the request to these index ranges (GET: point ranges only).
    pub fn ranges(mut self, ranges: impl IntoIterator<Item = OidRange>) -> Self {
        self.request.ranges = ranges.into_iter().collect();
        self
    }

    /// Tags the request with an id of the caller's (any bytes, at most 64 KiB).
    pub fn req_id(mut self, req_id: impl Into<Vec<u8>>) -> Self {
        self.request.req_id = Some(req_id.into());
        self
    }

    /// Settings for this request, over the manager's.
    pub fn config(mut self, config: Config) -> Self {
        self.request.config = config;
        self
    }

    /// Validates and returns the request.
    pub fn build(self) -> Result<Request> {
        let mut request = self.request;
        validate_host(&request.host)?;
        validate_roots(&request.oids)?;
        if let Credentials::Usm(usm) = &request.credentials {
            usm.check()?;
        }
        request.ranges = OidRange::normalize(std::mem::take(&mut request.ranges));
        if request.kind == RequestKind::Get {
            if let Some(range) = request.ranges.iter().find(|r| !r.is_point()) {
                return Err(Error::InvalidRange(format!(
                    "a GET takes only single-index ranges, not {range:?}"
                )));
            }
        }
        let longest_root = request.oids.iter().map(Oid::len).max().unwrap_or(0);
        for range in &request.ranges {
            for bound in [range.start(), range.stop()].into_iter().flatten() {
                if longest_root + bound.len() > MAX_OID_LEN {
                    return Err(Error::InvalidRange(format!(
                        "root plus index {bound} is longer than {MAX_OID_LEN} sub-identifiers"
                    )));
                }
            }
        }
        if let Some(req_id) = &request.req_id {
            if req_id.len() > MAX_REQ_ID_LEN {
                return Err(Error::InvalidRequest(format!(
                    "the request id is {} bytes, more than {MAX_REQ_ID_LEN}",
                    req_id.len()
                )));
            }
        }
        request.config = request.config.validate()?;
        Ok(request)
    }
}

fn validate_roots(oids: &[Oid]) -> Result<()> {
    if oids.is_empty() {
        return Err(Error::InvalidRequest("no OIDs given".into()));
    }
    if oids.len() > MAX_ROOTS {
        return Err(Error::InvalidRequest(format!("{} OIDs, more than {MAX_ROOTS}", oids.len())));
    }
    for oid in oids {
        let subids = oid.as_slice();
        // BER packs the first two arcs into one byte (X.690 §8.19.4).
        if subids.len() < 2 || subids[0] > 2 || (subids[0] < 2 && subids[1] >= 40) {
            return Err(Error::InvalidOid {
                input: oid.to_string(),
                reason: "an SNMP OID needs at least two sub-identifiers, the first 0, 1 or 2 \
                         (and the second below 40 unless the first is 2)"
                    .into(),
            });
        }
    }
    let mut sorted: Vec<&Oid> = oids.iter().collect();
    sorted.sort();
    // In sorted order, a root that is a prefix of another is directly followed by one of its
    // descendants, so checking neighbours finds every ambiguous pair.
    for pair in sorted.windows(2) {
        if pair[0].is_prefix_of(pair[1].as_slice()) {
            let what = if pair[0] == pair[1] { "is given twice" } else { "contains" };
            return Err(Error::InvalidRequest(format!(
                "ambiguous root OIDs: {} {what} {}",
                pair[0], pair[1]
            )));
        }
    }
    Ok(())
}

const TRANSPORTS: &[&str] = &["udp", "udp6", "udpv6", "udpipv6", "tcp", "tcp6", "tcpv6", "tcpipv6"];

/// Whether `prefix` (before the first ':' of a peer name) is a transport net-snmp knows.
pub(crate) fn is_transport(prefix: &str) -> bool {
    TRANSPORTS.iter().any(|transport| transport.eq_ignore_ascii_case(prefix))
}

/// Checks the parts of a net-snmp peer name that can be checked without resolving it:
/// `[transport:]address[:port]`, where address is a name, an IPv4 address or `[IPv6]`.
fn validate_host(host: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidHost { host: host.to_owned(), reason };
    if host.is_empty() {
        return Err(invalid("is empty".into()));
    }
    if host.len() > 1024 {
        return Err(invalid("is longer than 1024 bytes".into()));
    }
    if let Some(c) = host.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!("contains {c:?}")));
    }
    let mut address = host;
    if let Some((prefix, rest)) = host.split_once(':') {
        if is_transport(prefix) {
            address = rest;
        } else if !prefix.is_empty()
            && prefix.chars().all(|c| c.is_ascii_alphabetic())
            && !rest.chars().all(|c| c.is_ascii_digit())
        {
            return Err(invalid(format!(
                "unknown transport {prefix:?} (use udp, udp6, tcp or tcp6, or none)"
            )));
        }
    }
    if address.is_empty() {
        return Err(invalid("has no address after the transport".into()));
    }
    let port = if let Some(bracketed) = address.strip_prefix('[') {
        let (inside, after) =
            bracketed.split_once(']').ok_or_else(|| invalid("has '[' without a closing ']'".into()))?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(format!("{inside:?} is not an IPv6 address")));
        }
        match after {
            "" => None,
            _ => Some(
                after.strip_prefix(':').ok_or_else(|| invalid(format!("unexpected {after:?} after ']'")))?,
            ),
        }
    } else if address.matches(':').count() == 1 {
        address.split_once(':').map(|(_, port)| port)
    } else if address.contains(':') {
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(format!(
                "{address:?} is not an IPv6 address (write an IPv6 address with a port as [address]:port)"
            )));
        }
        None // a bare IPv6 address
    } else {
        None // a name or an IPv4 address
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(invalid(format!("port {port:?} is not a number from 1 to 65535"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oids(list: &[&str]) -> Vec<Oid> {
        list.iter().map(|o| Oid::parse(o).unwrap()).collect()
    }

    fn public() -> Community {
        Community::new("public", Version::V2c).unwrap()
    }

    #[test]
    fn builds_a_valid_walk_with_normalized_ranges() {
        let r = |a: &str, b: &str| {
            OidRange::new(Some(Oid::parse(a).unwrap()), Some(Oid::parse(b).unwrap())).unwrap()
        };
        let request =
            Request::walk("127.0.0.1:1161", public(), oids(&["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.10"]))
                .ranges([r("5", "9"), r("1", "6")])
                .req_id("job-1")
                .build()
                .unwrap();
        assert_eq!(request.ranges(), &[r("1", "9")]);
        assert_eq!(request.req_id(), Some(&b"job-1"[..]));
        assert_eq!(request.kind(), RequestKind::Walk);
    }

    #[test]
    fn rejects_bad_requests_with_clear_messages() {
        let cases: Vec<(Result<Request>, &str)> = vec![
            (Request::get("h", public(), vec![]).build(), "no OIDs given"),
            (
                Request::walk("h", public(), oids(&["1.3.6.1.2.1.2", "1.3.6.1.2.1.2.2.1.2"])).build(),
                "ambiguous root OIDs: .1.3.6.1.2.1.2 contains .1.3.6.1.2.1.2.2.1.2",
            ),
            (Request::walk("h", public(), oids(&["1.3.6.1", "1.3.6.1"])).build(), "is given twice"),
            (
                Request::get("h", public(), oids(&["1.3.6.1.2.1.1.1"]))
                    .ranges([OidRange::new(Some(Oid::parse("1").unwrap()), Some(Oid::parse("3").unwrap()))
                        .unwrap()])
                    .build(),
                "a GET takes only single-index ranges",
            ),
            (Request::get("h", public(), oids(&["7.1"])).build(), "invalid OID \".7.1\""),
            (Request::get("h", public(), oids(&["1"])).build(), "at least two sub-identifiers"),
            (Request::get("", public(), oids(&["1.3"])).build(), "invalid host \"\": is empty"),
            (Request::get("a b", public(), oids(&["1.3"])).build(), "contains ' '"),
            (Request::get("h:0", public(), oids(&["1.3"])).build(), "port \"0\""),
            (Request::get("h:99999", public(), oids(&["1.3"])).build(), "port \"99999\""),
            (Request::get("http://h", public(), oids(&["1.3"])).build(), "unknown transport \"http\""),
            (Request::get("udp6:[::1", public(), oids(&["1.3"])).build(), "without a closing"),
            (Request::get("[nope]:161", public(), oids(&["1.3"])).build(), "not an IPv6 address"),
            (
                Request::get("h", public(), oids(&["1.3"])).req_id(vec![0u8; MAX_REQ_ID_LEN + 1]).build(),
                "request id",
            ),
        ];
        for (result, fragment) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(fragment), "expected {fragment:?} in {message:?}");
        }
    }

    #[test]
    fn accepts_the_host_forms_net_snmp_takes() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.0.0.1:1161",
            "udp:127.0.0.1:161",
            "udp6:[::1]:1161",
            "[::1]:161",
            "tcp:router.example:161",
            "::1",
            "udp6:::1",
            "123-456",
        ] {
            validate_host(host).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let message = validate_host("1:2:3").unwrap_err().to_string();
        assert!(message.contains("\"1:2:3\" is not an IPv6 address"), "{message}");
    }

    #[test]
    fn community_is_checked_and_hidden_in_debug() {
        assert!(Community::new("", Version::V1).unwrap_err().to_string().contains("empty"));
        assert!(Community::new("x".repeat(256), Version::V1).is_err());
        assert!(Community::new("a\0b", Version::V1).is_err());
        assert_eq!(format!("{:?}", public()), "Community(***, v2c)");
        assert_eq!(Version::parse("2c").unwrap(), Version::V2c);
        assert_eq!(Version::parse("3").unwrap(), Version::V3);
        assert!(Version::parse("4").unwrap_err().to_string().contains("\"4\""));
        let v3 = Community::new("public", Version::V3).unwrap_err().to_string();
        assert!(v3.contains("Usm"), "{v3}");
    }
}
