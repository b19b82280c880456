//! SNMPv3 credentials for the User-based Security Model (RFC 3414): [`Usm`], with its
//! [`AuthProtocol`], [`PrivProtocol`] and [`SecurityLevel`], spelled as net-snmp's `-a`, `-x`
//! and `-l` take them.
//!
//! Passphrases are kept in [`Secret`]s: `Debug` prints `***`, and the memory is zeroed when
//! dropped. They are turned into keys (RFC 3414 A.2, about 1 MB of hashing each) once per
//! process and protocol, and localised once per agent engine ID (see `session::usm`).

use std::fmt;

use crate::error::{Error, Result};

/// An authentication protocol (net-snmp `-a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthProtocol {
    /// HMAC-MD5-96 (RFC 3414).
    Md5,
    /// HMAC-SHA-96 (RFC 3414).
    Sha,
    /// HMAC-SHA-224 (RFC 7860, usmHMAC128SHA224AuthProtocol).
    Sha224,
    /// HMAC-SHA-256 (RFC 7860, usmHMAC192SHA256AuthProtocol).
    Sha256,
    /// HMAC-SHA-384 (RFC 7860, usmHMAC256SHA384AuthProtocol).
    Sha384,
    /// HMAC-SHA-512 (RFC 7860, usmHMAC384SHA512AuthProtocol).
    Sha512,
}

impl AuthProtocol {
    /// Every protocol, in the order above.
    pub const ALL: [AuthProtocol; 6] = [
        AuthProtocol::Md5,
        AuthProtocol::Sha,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ];

    /// `"MD5"`, `"SHA"`, `"SHA-224"`, `"SHA-256"`, `"SHA-384"` or `"SHA-512"` (net-snmp's names).
    pub fn name(self) -> &'static str {
        match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha => "SHA",
            AuthProtocol::Sha224 => "SHA-224",
            AuthProtocol::Sha256 => "SHA-256",
            AuthProtocol::Sha384 => "SHA-384",
            AuthProtocol::Sha512 => "SHA-512",
        }
    }

    /// Parses a name as `snmpget -a` takes it (any case; `SHA1`, `SHA256` and `SHA-256` alike).
    pub fn parse(text: &str) -> Result<Self> {
        let key = squash(text);
        let found = match key.as_str() {
            "MD5" => Some(AuthProtocol::Md5),
            "SHA" | "SHA1" => Some(AuthProtocol::Sha),
            "SHA224" => Some(AuthProtocol::Sha224),
            "SHA256" => Some(AuthProtocol::Sha256),
            "SHA384" => Some(AuthProtocol::Sha384),
            "SHA512" => Some(AuthProtocol::Sha512),
            _ => None,
        };
        found.ok_or_else(|| {
            Error::InvalidCredentials(format!(
                "unknown authentication protocol {text:?} (expected one of {})",
                names(AuthProtocol::ALL.iter().map(|p| p.name()))
            ))
        })
    }
}

/// A privacy (encryption) protocol (net-snmp `-x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrivProtocol {
    /// CBC-DES (RFC 3414).
    Des,
    /// CFB128-AES-128 (RFC 3826).
    Aes,
    /// CFB128-AES-192 (draft-blumenthal-aes-usm, as net-snmp implements it).
    Aes192,
    /// CFB128-AES-256 (draft-blumenthal-aes-usm, as net-snmp implements it).
    Aes256,
}

impl PrivProtocol {
    /// Every protocol, in the order above.
    pub const ALL: [PrivProtocol; 4] =
        [PrivProtocol::Des, PrivProtocol::Aes, PrivProtocol::Aes192, PrivProtocol::Aes256];

    /// `"DES"`, `"AES"`, `"AES-192"` or `"AES-256"`.
    pub fn name(self) -> &'static str {
        match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes => "AES",
            PrivProtocol::Aes192 => "AES-192",
            PrivProtocol::Aes256 => "AES-256",
        }
    }

    /// Parses a name as `snmpget -x` takes it (any case; `AES128`, `AES192`, `AES-256` alike).
    pub fn parse(text: &str) -> Result<Self> {
        let found = match squash(text).as_str() {
            "DES" => Some(PrivProtocol::Des),
            "AES" | "AES128" => Some(PrivProtocol::Aes),
            "AES192" => Some(PrivProtocol::Aes192),
            "AES256" => Some(PrivProtocol::Aes256),
            _ => None,
        };
        found.ok_or_else(|| {
            Error::InvalidCredentials(format!(
                "unknown privacy protocol {text:?} (expected one of {})",
                names(PrivProtocol::ALL.iter().map(|p| p.name()))
            ))
        })
    }
}

/// How messages are protected (net-snmp `-l`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityLevel {
    /// Neither authenticated nor encrypted.
    NoAuthNoPriv,
    /// Authenticated, not encrypted.
    AuthNoPriv,
    /// Authenticated and encrypted.
    AuthPriv,
}

impl SecurityLevel {
    /// `"noAuthNoPriv"`, `"authNoPriv"` or `"authPriv"`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        }
    }

    /// Parses a level as `snmpget -l` takes it: the names above (any case) or `1`, `2`, `3`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "noauthnopriv" | "noauth" | "1" => Ok(SecurityLevel::NoAuthNoPriv),
            "authnopriv" | "auth" | "2" => Ok(SecurityLevel::AuthNoPriv),
            "authpriv" | "priv" | "3" => Ok(SecurityLevel::AuthPriv),
            _ => Err(Error::InvalidCredentials(format!(
                "unknown security level {text:?} (expected \"noAuthNoPriv\", \"authNoPriv\" or \"authPriv\")"
            ))),
        }
    }
}

/// A passphrase: never printed (`Debug` shows `***`), zeroed when dropped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The passphrase's bytes (for key derivation).
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|byte| *byte = 0);
        // Keeps the zeroing from being optimised away as a dead store.
        std::hint::black_box(&self.0);
    }
}

/// Shortest passphrase accepted: net-snmp (and RFC 3414 A.2.1's advice) refuse fewer than 8.
pub const MIN_PASSPHRASE_LEN: usize = 8;
/// Longest user or context name (SnmpAdminString in the USM and VACM MIBs: 32 octets).
const MAX_NAME_LEN: usize = 32;
/// Engine IDs are 5 to 32 octets (SnmpEngineID, RFC 3411).
const ENGINE_ID_LEN: std::ops::RangeInclusive<usize> = 5..=32;

/// SNMPv3 USM credentials: a user, its keys, and the context to read.
///
/// ```
/// use snmp_stream::{AuthProtocol, PrivProtocol, Usm};
/// let usm = Usm::new("monitor")?
///     .auth(AuthProtocol::Sha256, "auth passphrase")?
///     .privacy(PrivProtocol::Aes, "priv passphrase")?;
/// assert_eq!(usm.level().name(), "authPriv");
/// assert!(!format!("{usm:?}").contains("passphrase"));
/// # Ok::<(), snmp_stream::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Usm {
    user: String,
    auth: Option<(AuthProtocol, Secret)>,
    privacy: Option<(PrivProtocol, Secret)>,
    level: Option<SecurityLevel>,
    context: String,
    context_engine_id: Option<Vec<u8>>,
    security_engine_id: Option<Vec<u8>>,
}

impl Usm {
    /// Credentials for `user` (1 to 32 bytes), at noAuthNoPriv until keys are added.
    pub fn new(user: impl Into<String>) -> Result<Self> {
        let user = user.into();
        check_name("user name", &user, 1)?;
        Ok(Usm {
            user,
            auth: None,
            privacy: None,
            level: None,
            context: String::new(),
            context_engine_id: None,
            security_engine_id: None,
        })
    }

    /// Adds authentication (net-snmp `-a`, `-A`); the passphrase has at least 8 bytes.
    pub fn auth(mut self, protocol: AuthProtocol, passphrase: impl AsRef<[u8]>) -> Result<Self> {
        self.auth = Some((protocol, passphrase_of("authentication", passphrase.as_ref())?));
        Ok(self)
    }

    /// Adds privacy (net-snmp `-x`, `-X`); needs authentication too (checked when the request
    /// is built).
    pub fn privacy(mut self, protocol: PrivProtocol, passphrase: impl AsRef<[u8]>) -> Result<Self> {
        self.privacy = Some((protocol, passphrase_of("privacy", passphrase.as_ref())?));
        Ok(self)
    }

    /// Sets the security level (net-snmp `-l`). By default it is the highest the keys allow;
    /// a lower one leaves keys unused, a higher one is refused by [`check`](Self::check).
    pub fn level(&self) -> SecurityLevel {
        self.level.unwrap_or(match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        })
    }

    /// Sets the security level explicitly (net-snmp `-l`).
    pub fn with_level(mut self, level: SecurityLevel) -> Self {
        self.level = Some(level);
        self
    }

    /// Sets the context name (net-snmp `-n`; at most 32 bytes, default empty).
    pub fn context(mut self, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_name("context name", &name, 0)?;
        self.context = name;
        Ok(self)
    }

    /// Sets the context engine ID (net-snmp `-E`; 5 to 32 bytes). By default the agent's own.
    pub fn context_engine_id(mut self, id: impl Into<Vec<u8>>) -> Result<Self> {
        self.context_engine_id = Some(engine_id("context engine ID", id.into())?);
        Ok(self)
    }

    /// Sets the agent's security engine ID (net-snmp `-e`; 5 to 32 bytes), skipping discovery.
    pub fn security_engine_id(mut self, id: impl Into<Vec<u8>>) -> Result<Self> {
        self.security_engine_id = Some(engine_id("security engine ID", id.into())?);
        Ok(self)
    }

    /// Checks that the keys allow the security level.
    pub fn check(&self) -> Result<()> {
        if self.privacy.is_some() && self.auth.is_none() {
            return Err(Error::InvalidCredentials(format!(
                "user {:?}: privacy needs authentication too (an auth protocol and passphrase)",
                self.user
            )));
        }
        let level = self.level();
        if level >= SecurityLevel::AuthNoPriv && self.auth.is_none() {
            return Err(Error::InvalidCredentials(format!(
                "user {:?}: security level {} needs an authentication protocol and passphrase",
                self.user,
                level.name()
            )));
        }
        if level == SecurityLevel::AuthPriv && self.privacy.is_none() {
            return Err(Error::InvalidCredentials(format!(
                "user {:?}: security level authPriv needs a privacy protocol and passphrase",
                self.user
            )));
        }
        Ok(())
    }

    /// The user (security name).
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The authentication protocol, if any.
    pub fn auth_protocol(&self) -> Option<AuthProtocol> {
        self.auth.as_ref().map(|(p, _)| *p)
    }
    /// The privacy protocol, if any.
    pub fn priv_protocol(&self) -> Option<PrivProtocol> {
        self.privacy.as_ref().map(|(p, _)| *p)
    }
    /// The context name.
    pub fn context_name(&self) -> &str {
        &self.context
    }
    /// The context engine ID, when set.
    pub fn context_engine(&self) -> Option<&[u8]> {
        self.context_engine_id.as_deref()
    }
    /// The security engine ID, when set.
    pub fn security_engine(&self) -> Option<&[u8]> {
        self.security_engine_id.as_deref()
    }
    pub(crate) fn auth_key_source(&self) -> Option<(AuthProtocol, &Secret)> {
        self.auth.as_ref().map(|(p, s)| (*p, s))
    }
    pub(crate) fn priv_key_source(&self) -> Option<(PrivProtocol, &Secret)> {
        self.privacy.as_ref().map(|(p, s)| (*p, s))
    }
}

impl fmt::Debug for Usm {
    /// Shows the user, level and protocols, never a passphrase.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Usm({:?}, {}", self.user, self.level().name())?;
        if let Some(protocol) = self.auth_protocol() {
            write!(f, ", auth={}", protocol.name())?;
        }
        if let Some(protocol) = self.priv_protocol() {
            write!(f, ", priv={}", protocol.name())?;
        }
        if !self.context.is_empty() {
            write!(f, ", context={:?}", self.context)?;
        }
        f.write_str(")")
    }
}

/// Upper case without `-`/`_`, for protocol names.
fn squash(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '-' | '_')).collect::<String>().to_ascii_uppercase()
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

fn check_name(what: &str, name: &str, min: usize) -> Result<()> {
    if name.len() < min {
        return Err(Error::InvalidCredentials(format!("the {what} is empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidCredentials(format!(
            "the {what} {name:?} is {} bytes, more than {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(Error::InvalidCredentials(format!("the {what} {name:?} contains a NUL byte")));
    }
    Ok(())
}

fn passphrase_of(what: &str, passphrase: &[u8]) -> Result<Secret> {
    if passphrase.len() < MIN_PASSPHRASE_LEN {
        // The message says how long it is, never what it is.
        return Err(Error::InvalidCredentials(format!(
            "the {what} passphrase is {} bytes: at least {MIN_PASSPHRASE_LEN} are needed",
            passphrase.len()
        )));
    }
    Ok(Secret(passphrase.to_vec()))
}

fn engine_id(what: &str, id: Vec<u8>) -> Result<Vec<u8>> {
    if !ENGINE_ID_LEN.contains(&id.len()) {
        return Err(Error::InvalidCredentials(format!(
            "the {what} is {} bytes: it must be 5 to 32",
            id.len()
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_parse_as_net_snmp_spells_them() {
        for protocol in AuthProtocol::ALL {
            assert_eq!(AuthProtocol::parse(protocol.name()).unwrap(), protocol);
        }
        assert_eq!(AuthProtocol::parse("sha256").unwrap(), AuthProtocol::Sha256);
        assert_eq!(AuthProtocol::parse("SHA1").unwrap(), AuthProtocol::Sha);
        for protocol in PrivProtocol::ALL {
            assert_eq!(PrivProtocol::parse(protocol.name()).unwrap(), protocol);
        }
        assert_eq!(PrivProtocol::parse("aes128").unwrap(), PrivProtocol::Aes);
        assert_eq!(PrivProtocol::parse("AES256").unwrap(), PrivProtocol::Aes256);
        let err = AuthProtocol::parse("SHA-3").unwrap_err().to_string();
        assert!(err.contains("\"SHA-3\"") && err.contains("\"SHA-512\""), "{err}");
        assert!(PrivProtocol::parse("3DES").is_err());
        assert_eq!(SecurityLevel::parse("authPriv").unwrap(), SecurityLevel::AuthPriv);
        assert_eq!(SecurityLevel::parse("1").unwrap(), SecurityLevel::NoAuthNoPriv);
        assert!(SecurityLevel::parse("high").is_err());
    }

    #[test]
    fn levels_follow_the_keys_and_are_checked() {
        let user = Usm::new("u").unwrap();
        assert_eq!(user.level(), SecurityLevel::NoAuthNoPriv);
        let auth = user.clone().auth(AuthProtocol::Sha, "12345678").unwrap();
        assert_eq!(auth.level(), SecurityLevel::AuthNoPriv);
        let both = auth.clone().privacy(PrivProtocol::Aes, "abcdefgh").unwrap();
        assert_eq!(both.level(), SecurityLevel::AuthPriv);
        assert!(both.check().is_ok());
        assert!(both.clone().with_level(SecurityLevel::AuthNoPriv).check().is_ok());
        assert!(auth.with_level(SecurityLevel::AuthPriv).check().is_err());
        let no_auth = user.privacy(PrivProtocol::Des, "abcdefgh").unwrap();
        assert!(no_auth.check().unwrap_err().to_string().contains("needs authentication"));
    }

    #[test]
    fn bad_input_is_named_and_secrets_never_shown() {
        let err = Usm::new("u").unwrap().auth(AuthProtocol::Md5, "short").unwrap_err().to_string();
        assert!(err.contains("5 bytes") && !err.contains("short"), "{err}");
        assert!(Usm::new("").is_err());
        assert!(Usm::new("x".repeat(33)).is_err());
        assert!(Usm::new("u").unwrap().context_engine_id(vec![1, 2]).is_err());
        let usm = Usm::new("u")
            .unwrap()
            .auth(AuthProtocol::Sha512, "my auth secret")
            .unwrap()
            .privacy(PrivProtocol::Aes256, "my priv secret")
            .unwrap()
            .context("ctx")
            .unwrap();
        let shown = format!("{usm:?}");
        assert_eq!(shown, "Usm(\"u\", authPriv, auth=SHA-512, priv=AES-256, context=\"ctx\")");
        assert!(!shown.contains("secret"));
    }
}
