//! SNMPv3 USM state on net-snmp, which keeps it process-wide: the user table (one entry per
//! agent engine ID and user, holding the localised keys) and the engine time list. Every
//! net-snmp call on a v3 session runs under [`lock`], which also guards what is kept here:
//!
//! - **Keys**: a passphrase becomes a key Ku (RFC 3414 A.2: a megabyte of hashing) once per
//!   protocol and passphrase in the process; Ku is localised (one more hash with the engine
//!   ID) once per engine ID and user, when net-snmp's user entry is made.
//! - **Engine IDs**: learnt by discovery (a noAuthNoPriv probe answered by a report, RFC 3414
//!   §4) and remembered per peer, so later requests to the same agent skip the probe.
//! - **Users**: net-snmp finds a user's keys by (engine ID, user name) alone. When two
//!   credentials share a name on one engine (a wrong passphrase next to the right one), the
//!   entry is swapped for the session about to use it, so each request is sent and checked
//!   with its own keys.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use netsnmp_sys as sys;

use crate::usm::{AuthProtocol, PrivProtocol, Secret, SecurityLevel, Usm};
use crate::usm_crypto::KeyPair;

/// What the lock guards: caches and counters.
#[derive(Default)]
pub(crate) struct UsmState {
    /// (auth protocol, passphrase) → Ku.
    master_keys: HashMap<(AuthProtocol, Vec<u8>), Vec<u8>>,
    /// Distinct credentials → their number (`Keys::id`).
    credentials: HashMap<CredentialsKey, u64>,
    /// Peer name → the engine ID it answered discovery with.
    engines: HashMap<String, Vec<u8>>,
    /// (engine ID, user) → the credentials net-snmp's user entry holds now.
    users: HashMap<(Vec<u8>, String), u64>,
    /// Changes whenever a user entry is made or removed (see `Guard::ensure_user_cached`).
    generation: u64,
    counters: UsmCounters,
}

/// How often the expensive steps ran in this process (for tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsmCounters {
    /// Passphrases turned into keys (Ku): about 1 MB of hashing each.
    pub key_derivations: u64,
    /// User entries made with keys localised to an engine ID.
    pub localizations: u64,
    /// Engine-ID discoveries sent.
    pub discoveries: u64,
    /// Responses checked, decrypted and decoded by snmp-stream itself.
    pub fast_responses: u64,
    /// Messages left to net-snmp's parser (reports, and anything the fast path did not take).
    pub net_snmp_parsed: u64,
    /// Requests built (encoded, encrypted, signed) by snmp-stream itself.
    pub fast_requests: u64,
    /// Requests built by net-snmp (discovery probes, and anything the fast path did not take).
    pub net_snmp_built: u64,
}

/// Counted by the parse hook (outside the state's mutex).
pub(crate) static FAST_RESPONSES: AtomicU64 = AtomicU64::new(0);
pub(crate) static NET_SNMP_PARSED: AtomicU64 = AtomicU64::new(0);
pub(crate) static FAST_REQUESTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static NET_SNMP_BUILT: AtomicU64 = AtomicU64::new(0);

#[derive(PartialEq, Eq, Hash)]
struct CredentialsKey {
    user: String,
    master: KeyPair,
}

/// One credentials' master keys, ready for a session.
#[derive(Debug)]
pub(crate) struct Keys {
    /// Tells these credentials apart from others with the same user name.
    pub id: u64,
    master: KeyPair,
}

static STATE: Mutex<Option<UsmState>> = Mutex::new(None);

/// The USM lock, held across every net-snmp call on a v3 session.
pub(crate) struct Guard(MutexGuard<'static, Option<UsmState>>);

pub(crate) fn lock() -> Guard {
    let mut guard = STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.get_or_insert_with(UsmState::default);
    Guard(guard)
}

/// This process's USM counters.
pub fn counters() -> UsmCounters {
    UsmCounters {
        fast_responses: FAST_RESPONSES.load(Ordering::Relaxed),
        net_snmp_parsed: NET_SNMP_PARSED.load(Ordering::Relaxed),
        fast_requests: FAST_REQUESTS.load(Ordering::Relaxed),
        net_snmp_built: NET_SNMP_BUILT.load(Ordering::Relaxed),
        ..lock().state().counters
    }
}

/// A net-snmp OID array and its length.
fn oid_array<const N: usize>(array: *const [sys::oid; N]) -> (*const sys::oid, usize) {
    (array.cast(), N)
}

fn auth_oid_of(protocol: AuthProtocol) -> (*const sys::oid, usize) {
    // Only addresses are taken: net-snmp never writes these arrays.
    match protocol {
        AuthProtocol::Md5 => oid_array(std::ptr::addr_of!(sys::usmHMACMD5AuthProtocol)),
        AuthProtocol::Sha => oid_array(std::ptr::addr_of!(sys::usmHMACSHA1AuthProtocol)),
        AuthProtocol::Sha224 => oid_array(std::ptr::addr_of!(sys::usmHMAC128SHA224AuthProtocol)),
        AuthProtocol::Sha256 => oid_array(std::ptr::addr_of!(sys::usmHMAC192SHA256AuthProtocol)),
        AuthProtocol::Sha384 => oid_array(std::ptr::addr_of!(sys::usmHMAC256SHA384AuthProtocol)),
        AuthProtocol::Sha512 => oid_array(std::ptr::addr_of!(sys::usmHMAC384SHA512AuthProtocol)),
    }
}

fn priv_oid(protocol: PrivProtocol) -> (*const sys::oid, usize) {
    match protocol {
        PrivProtocol::Des => oid_array(std::ptr::addr_of!(sys::usmDESPrivProtocol)),
        PrivProtocol::Aes => oid_array(std::ptr::addr_of!(sys::usmAESPrivProtocol)),
        PrivProtocol::Aes192 => oid_array(std::ptr::addr_of!(sys::usmAES192PrivProtocol)),
        PrivProtocol::Aes256 => oid_array(std::ptr::addr_of!(sys::usmAES256PrivProtocol)),
    }
}

impl Guard {
    fn state(&mut self) -> &mut UsmState {
        self.0.get_or_insert_with(UsmState::default)
    }

    /// The master keys for `usm`, derived now only if this process has not yet derived them.
    pub fn keys(&mut self, usm: &Usm) -> Result<Keys, String> {
        let level = usm.level();
        let auth_protocol = usm.auth_key_source().map(|(p, _)| p);
        let mut derive = |protocol: AuthProtocol, secret: &Secret, what: &str| -> Result<Vec<u8>, String> {
            let state = self.state();
            let cache_key = (protocol, secret.expose().to_vec());
            if let Some(key) = state.master_keys.get(&cache_key) {
                return Ok(key.clone());
            }
            let key = master_key(protocol, secret).ok_or_else(|| {
                format!("net-snmp could not derive the {what} key of user {:?}", usm.user())
            })?;
            state.counters.key_derivations += 1;
            state.master_keys.insert(cache_key, key.clone());
            Ok(key)
        };
        let auth = match usm.auth_key_source() {
            Some((protocol, secret)) if level >= SecurityLevel::AuthNoPriv => {
                Some((protocol, derive(protocol, secret, "authentication")?))
            }
            _ => None,
        };
        let privacy = match (usm.priv_key_source(), auth_protocol) {
            // The privacy key is made with the authentication protocol's hash (RFC 3414 A.2).
            (Some((protocol, secret)), Some(hash)) if level == SecurityLevel::AuthPriv => {
                Some((protocol, derive(hash, secret, "privacy")?))
            }
            _ => None,
        };
        let master = KeyPair { auth, privacy };
        let state = self.state();
        let next = state.credentials.len() as u64 + 1;
        let key = CredentialsKey { user: usm.user().to_owned(), master: master.clone() };
        let id = *state.credentials.entry(key).or_insert(next);
        Ok(Keys { id, master })
    }

    /// The engine ID `peer` answered discovery with before, if any.
    pub fn engine_of(&mut self, peer: &str) -> Option<Vec<u8>> {
        self.state().engines.get(peer).cloned()
    }

    /// Remembers (or, with `None`, forgets) `peer`'s engine ID.
    pub fn set_engine(&mut self, peer: &str, engine: Option<&[u8]>) {
        match engine {
            Some(engine) => self.state().engines.insert(peer.to_owned(), engine.to_vec()),
            None => self.state().engines.remove(peer),
        };
    }

    pub fn count_discovery(&mut self) {
        self.state().counters.discoveries += 1;
    }

    /// [`ensure_user`](Self::ensure_user), skipped when nothing changed since the session's last
    /// call (`cache`: the table's generation and the session's engine ID then): the common
    /// case costs a comparison, not a lookup.
    ///
    /// # Safety
    /// As `ensure_user`.
    pub unsafe fn ensure_user_cached(
        &mut self,
        session: *mut sys::netsnmp_session,
        keys: &Keys,
        cache: &mut Option<(u64, usize, usize)>,
    ) {
        // SAFETY: per the caller, `session` is valid.
        let Some(s) = (unsafe { session.as_ref() }) else { return };
        let now = (self.state().generation, s.securityEngineID as usize, s.securityEngineIDLen);
        if *cache == Some(now) {
            return;
        }
        // SAFETY: per the caller.
        if unsafe { self.ensure_user(session, keys) } {
            *cache = Some((self.state().generation, now.1, now.2));
        }
    }

    /// Makes net-snmp's user entry for the session's engine ID and user hold `keys`, creating
    /// (and localising) it when missing or held by other credentials. No-op while the engine
    /// ID is unknown.
    ///
    /// # Safety
    /// `session` must be a valid session whose USM fields were set by [`configure`] (or are
    /// those net-snmp copied from such a session), with the lock held (`self`).
    pub unsafe fn ensure_user(&mut self, session: *mut sys::netsnmp_session, keys: &Keys) -> bool {
        // SAFETY: per the caller, `session` is valid; its engine ID and name are net-snmp's
        // own copies (or ours), `len` bytes long.
        let (engine, name) = unsafe {
            let s = &*session;
            if s.securityEngineIDLen == 0 || s.securityEngineID.is_null() || s.securityName.is_null() {
                return false;
            }
            let engine = std::slice::from_raw_parts(s.securityEngineID, s.securityEngineIDLen).to_vec();
            let name = std::slice::from_raw_parts(s.securityName.cast::<u8>(), s.securityNameLen);
            (engine, String::from_utf8_lossy(name).into_owned())
        };
        let entry = (engine, name);
        if self.state().users.get(&entry) == Some(&keys.id) {
            // SAFETY: as above.
            unsafe { (*session).flags |= sys::SNMP_FLAGS_USER_CREATED as sys::u_long };
            return true;
        }
        let Ok(c_name) = CString::new(entry.1.clone()) else { return false };
        // SAFETY: the lock is held, so no other thread walks the user list; an entry found is
        // unlinked, then freed, and nothing else keeps a pointer to it (net-snmp looks users
        // up per message). usm_create_user_from_session then builds a new entry from the
        // session's protocols and master keys, localising them with its engine ID.
        let created = unsafe {
            let old = sys::usm_get_user(entry.0.as_ptr(), entry.0.len(), c_name.as_ptr());
            if !old.is_null() {
                sys::usm_remove_user(old);
                sys::usm_free_user(old);
            }
            (*session).flags &= !(sys::SNMP_FLAGS_USER_CREATED as sys::u_long);
            sys::usm_create_user_from_session(session) == sys::SNMPERR_SUCCESS as i32
        };
        let state = self.state();
        state.generation += 1;
        if created {
            state.counters.localizations += 1;
            state.users.insert(entry, keys.id);
        } else {
            state.users.remove(&entry);
        }
        created
    }
}

impl Guard {
    /// The engine ID, user, security level and localised keys of `session`'s net-snmp user
    /// entry; `None` while the engine ID is unknown or the entry's protocols are not ours.
    ///
    /// # Safety
    /// As [`Guard::ensure_user`].
    pub unsafe fn local_keys(
        &mut self,
        session: *mut sys::netsnmp_session,
    ) -> Option<(Vec<u8>, Vec<u8>, i32, KeyPair)> {
        // SAFETY: per the caller, `session` is valid and the lock is held, so the user entry
        // found stays as it is while its keys are copied.
        unsafe {
            let s = session.as_ref()?;
            if s.securityEngineIDLen == 0 || s.securityEngineID.is_null() || s.securityName.is_null() {
                return None;
            }
            let engine = std::slice::from_raw_parts(s.securityEngineID, s.securityEngineIDLen).to_vec();
            let user = std::slice::from_raw_parts(s.securityName.cast::<u8>(), s.securityNameLen).to_vec();
            let level = s.securityLevel;
            let entry = sys::usm_get_user(engine.as_ptr(), engine.len(), s.securityName).as_ref()?;
            let oid = |oid: *mut sys::oid, len: usize| {
                if oid.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(oid.cast_const(), len)
                }
            };
            let key = |key: *mut u8, len: usize| {
                if key.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(key.cast_const(), len).to_vec()
                }
            };
            let entry_auth = oid(entry.authProtocol, entry.authProtocolLen);
            let entry_priv = oid(entry.privProtocol, entry.privProtocolLen);
            let auth = AuthProtocol::ALL.into_iter().find(|p| {
                let (o, n) = auth_oid_of(*p);
                std::slice::from_raw_parts(o, n) == entry_auth
            });
            let privacy = PrivProtocol::ALL.into_iter().find(|p| {
                let (o, n) = priv_oid(*p);
                std::slice::from_raw_parts(o, n) == entry_priv
            });
            let keys = KeyPair {
                auth: (level >= sys::SNMP_SEC_LEVEL_AUTHNOPRIV as i32)
                    .then(|| auth.map(|p| (p, key(entry.authKey, entry.authKeyLen))))
                    .flatten(),
                privacy: (level == sys::SNMP_SEC_LEVEL_AUTHPRIV as i32)
                    .then(|| privacy.map(|p| (p, key(entry.privKey, entry.privKeyLen))))
                    .flatten(),
            };
            if (level >= sys::SNMP_SEC_LEVEL_AUTHNOPRIV as i32 && keys.auth.is_none())
                || (level == sys::SNMP_SEC_LEVEL_AUTHPRIV as i32 && keys.privacy.is_none())
            {
                return None;
            }
            Some((engine, user, level, keys))
        }
    }
}

/// Ku for `secret` with `protocol`'s hash (net-snmp's `generate_Ku`).
fn master_key(protocol: AuthProtocol, secret: &Secret) -> Option<Vec<u8>> {
    let (hash, hash_len) = auth_oid_of(protocol);
    let mut key = vec![0u8; sys::USM_AUTH_KU_LEN as usize];
    let mut key_len = key.len();
    let passphrase = secret.expose();
    // SAFETY: `hash` is a static OID array of `hash_len` sub-ids; the passphrase is read for
    // its length; generate_Ku writes at most `key_len` bytes into `key` and sets `key_len`.
    let status = unsafe {
        sys::generate_Ku(
            hash,
            hash_len as u32,
            passphrase.as_ptr(),
            passphrase.len(),
            key.as_mut_ptr(),
            &mut key_len,
        )
    };
    (status == sys::SNMPERR_SUCCESS as i32 && key_len <= key.len()).then(|| {
        key.truncate(key_len);
        key
    })
}

/// Sets a session's v3 fields from `usm` and `keys` before `snmp_sess_add_ex` copies it.
/// `strings` keeps the C strings the session points at alive until then; `engine` is the
/// agent's engine ID when known (from `-e` or discovery).
pub(crate) fn configure(
    session: &mut sys::netsnmp_session,
    usm: &Usm,
    keys: &Keys,
    engine: Option<&[u8]>,
    strings: &mut Vec<CString>,
) {
    session.version = sys::SNMP_VERSION_3 as _;
    session.securityModel = sys::SNMP_SEC_MODEL_USM as _;
    session.securityLevel = match usm.level() {
        SecurityLevel::NoAuthNoPriv => sys::SNMP_SEC_LEVEL_NOAUTH,
        SecurityLevel::AuthNoPriv => sys::SNMP_SEC_LEVEL_AUTHNOPRIV,
        SecurityLevel::AuthPriv => sys::SNMP_SEC_LEVEL_AUTHPRIV,
    } as _;
    let name = CString::new(usm.user()).unwrap_or_default();
    session.securityName = name.as_ptr().cast_mut();
    session.securityNameLen = usm.user().len();
    strings.push(name);
    let context = CString::new(usm.context_name()).unwrap_or_default();
    session.contextName = context.as_ptr().cast_mut();
    session.contextNameLen = usm.context_name().len();
    strings.push(context);
    if let Some(id) = usm.context_engine() {
        session.contextEngineID = id.as_ptr().cast_mut();
        session.contextEngineIDLen = id.len();
    }
    if let Some(engine) = engine {
        session.securityEngineID = engine.as_ptr().cast_mut();
        session.securityEngineIDLen = engine.len();
    }
    // The auth protocol is set even without keys: net-snmp's user entry needs one.
    let (auth, auth_len) = auth_oid_of(keys.master.auth.as_ref().map_or(AuthProtocol::Md5, |(p, _)| *p));
    session.securityAuthProto = auth.cast_mut();
    session.securityAuthProtoLen = auth_len;
    if let Some((_, key)) = &keys.master.auth {
        session.securityAuthKey[..key.len()].copy_from_slice(key);
        session.securityAuthKeyLen = key.len();
    }
    if let Some((protocol, key)) = &keys.master.privacy {
        let (oid, len) = priv_oid(*protocol);
        session.securityPrivProto = oid.cast_mut();
        session.securityPrivProtoLen = len;
        session.securityPrivKey[..key.len()].copy_from_slice(key);
        session.securityPrivKeyLen = key.len();
    }
    // Discovery is ours, asynchronous (net-snmp's probe would block the loop).
    session.flags |= sys::SNMP_FLAGS_DONT_PROBE as sys::u_long;
}
