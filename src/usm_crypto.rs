//! Checking and decrypting SNMPv3 responses (RFC 3414 §6-8, RFC 3826, RFC 7860), with the
//! session's localised keys, for the fast path of v3 sessions (`session.rs`): a response
//! whose digest is right and that is in time is decrypted here and decoded by `ber`, instead
//! of going through net-snmp's parser (which allocates per varbind) and its OpenSSL 3 calls
//! (whose per-call set-up costs more than the hashing itself). Anything else (reports, other
//! engines or users, messages out of time) is left to net-snmp.

use aes::cipher::{self, AsyncStreamCipher, BlockDecryptMut, KeyIvInit};
use aes::{Aes128, Aes192, Aes256};
use hmac::{Hmac, Mac};

use crate::usm::{AuthProtocol, PrivProtocol};

/// A user's authentication and privacy keys: master keys (Ku), or localised to an engine (as
/// net-snmp's user entry holds them, extended for AES-192/256). Zeroed when dropped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyPair {
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    pub privacy: Option<(PrivProtocol, Vec<u8>)>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("auth", &self.auth.as_ref().map(|(p, _)| p))
            .field("privacy", &self.privacy.as_ref().map(|(p, _)| p))
            .finish()
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        let (auth, privacy) = (self.auth.as_mut().map(|(_, k)| k), self.privacy.as_mut().map(|(_, k)| k));
        for key in [auth, privacy].into_iter().flatten() {
            key.iter_mut().for_each(|byte| *byte = 0);
            // Keeps the zeroing from being optimised away as a dead store.
            std::hint::black_box(&key);
        }
    }
}

/// The length of msgAuthenticationParameters for `protocol` (HMAC-96 for MD5 and SHA-1,
/// RFC 7860's truncations for SHA-2).
pub(crate) fn mac_length(protocol: AuthProtocol) -> usize {
    match protocol {
        AuthProtocol::Md5 | AuthProtocol::Sha => 12,
        AuthProtocol::Sha224 => 16,
        AuthProtocol::Sha256 => 24,
        AuthProtocol::Sha384 => 32,
        AuthProtocol::Sha512 => 48,
    }
}

/// Whether `mac` (found at `offset` in `message`) is the message's digest: the HMAC of the
/// whole message with the digest's own bytes zeroed, truncated. Constant time in the digest.
pub(crate) fn verify(protocol: AuthProtocol, key: &[u8], message: &[u8], offset: usize, mac: &[u8]) -> bool {
    if mac.len() != mac_length(protocol) || offset + mac.len() > message.len() {
        return false;
    }
    let zeros = [0u8; 48];
    let parts = [&message[..offset], &zeros[..mac.len()], &message[offset + mac.len()..]];
    fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: [&[u8]; 3], mac: &[u8]) -> bool {
        let Ok(mut hmac) = <M as Mac>::new_from_slice(key) else { return false };
        for part in parts {
            hmac.update(part);
        }
        hmac.verify_truncated_left(mac).is_ok()
    }
    match protocol {
        AuthProtocol::Md5 => check::<Hmac<md5::Md5>>(key, parts, mac),
        AuthProtocol::Sha => check::<Hmac<sha1::Sha1>>(key, parts, mac),
        AuthProtocol::Sha224 => check::<Hmac<sha2::Sha224>>(key, parts, mac),
        AuthProtocol::Sha256 => check::<Hmac<sha2::Sha256>>(key, parts, mac),
        AuthProtocol::Sha384 => check::<Hmac<sha2::Sha384>>(key, parts, mac),
        AuthProtocol::Sha512 => check::<Hmac<sha2::Sha512>>(key, parts, mac),
    }
}

/// Decrypts an encryptedPDU into `out` (replacing its contents). `salt` is
/// msgPrivacyParameters; `boots` and `time` the message's engine boots and time (the AES IV).
/// `None` when the key or the lengths do not fit the protocol.
pub(crate) fn decrypt(
    protocol: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: &[u8],
    encrypted: &[u8],
    out: &mut Vec<u8>,
) -> Option<()> {
    if salt.len() != 8 {
        return None;
    }
    out.clear();
    out.extend_from_slice(encrypted);
    match protocol {
        PrivProtocol::Des => {
            // RFC 3414 §8.1.1: the DES key is the first 8 bytes of the 16-byte localised key,
            // the IV the other 8 XOR the salt; CBC over whole 8-byte blocks.
            if key.len() < 16 || out.len() % 8 != 0 {
                return None;
            }
            let mut iv = [0u8; 8];
            for (i, byte) in iv.iter_mut().enumerate() {
                *byte = key[8 + i] ^ salt[i];
            }
            let decryptor = cbc::Decryptor::<des::Des>::new_from_slices(&key[..8], &iv).ok()?;
            decryptor.decrypt_padded_mut::<cipher::block_padding::NoPadding>(out).ok()?;
        }
        PrivProtocol::Aes | PrivProtocol::Aes192 | PrivProtocol::Aes256 => {
            // RFC 3826 §3.1.2.1: IV = boots ‖ time ‖ salt, CFB-128, any length.
            let mut iv = [0u8; 16];
            iv[..4].copy_from_slice(&boots.to_be_bytes());
            iv[4..8].copy_from_slice(&time.to_be_bytes());
            iv[8..].copy_from_slice(salt);
            let length = match protocol {
                PrivProtocol::Aes => 16,
                PrivProtocol::Aes192 => 24,
                _ => 32,
            };
            let key = key.get(..length)?;
            match protocol {
                PrivProtocol::Aes => {
                    cfb_mode::Decryptor::<Aes128>::new_from_slices(key, &iv).ok()?.decrypt(out)
                }
                PrivProtocol::Aes192 => {
                    cfb_mode::Decryptor::<Aes192>::new_from_slices(key, &iv).ok()?.decrypt(out)
                }
                _ => cfb_mode::Decryptor::<Aes256>::new_from_slices(key, &iv).ok()?.decrypt(out),
            }
        }
    }
    Some(())
}

/// Writes the message's digest at `offset` (where `length` zeros stand now): the HMAC of the
/// whole message, truncated.
pub(crate) fn sign(protocol: AuthProtocol, key: &[u8], message: &mut [u8], offset: usize) -> Option<()> {
    let length = mac_length(protocol);
    if offset + length > message.len() {
        return None;
    }
    fn digest<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
        let mut hmac = <M as Mac>::new_from_slice(key).ok()?;
        hmac.update(message);
        Some(hmac.finalize().into_bytes().to_vec())
    }
    let mac = match protocol {
        AuthProtocol::Md5 => digest::<Hmac<md5::Md5>>(key, message),
        AuthProtocol::Sha => digest::<Hmac<sha1::Sha1>>(key, message),
        AuthProtocol::Sha224 => digest::<Hmac<sha2::Sha224>>(key, message),
        AuthProtocol::Sha256 => digest::<Hmac<sha2::Sha256>>(key, message),
        AuthProtocol::Sha384 => digest::<Hmac<sha2::Sha384>>(key, message),
        AuthProtocol::Sha512 => digest::<Hmac<sha2::Sha512>>(key, message),
    }?;
    message[offset..offset + length].copy_from_slice(&mac[..length]);
    Some(())
}

/// The next privacy salt of this process: a 64-bit counter started at a random value (RFC
/// 3826 §3.1.2.1; DES uses its low 32 bits after the engine boots, RFC 3414 §8.1.1.1).
pub(crate) fn next_salt() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    COUNTER
        .get_or_init(|| {
            let mut seed = [0u8; 8];
            // A failed getrandom leaves a time-based seed: salts must not repeat, they need
            // not be secret.
            let filled = std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
                .is_ok();
            if !filled {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                seed = (now.as_nanos() as u64).to_be_bytes();
            }
            AtomicU64::new(u64::from_be_bytes(seed))
        })
        .fetch_add(1, Ordering::Relaxed)
}

/// Encrypts a ScopedPDU into `out`; returns the salt (msgPrivacyParameters). DES pads to whole
/// blocks (RFC 3414 §8.1.1.2).
pub(crate) fn encrypt(
    protocol: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Option<[u8; 8]> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit as _};
    let counter = next_salt();
    out.clear();
    out.extend_from_slice(plain);
    match protocol {
        PrivProtocol::Des => {
            if key.len() < 16 {
                return None;
            }
            let mut salt = [0u8; 8];
            salt[..4].copy_from_slice(&boots.to_be_bytes());
            salt[4..].copy_from_slice(&(counter as u32).to_be_bytes());
            let mut iv = [0u8; 8];
            for (i, byte) in iv.iter_mut().enumerate() {
                *byte = key[8 + i] ^ salt[i];
            }
            let padded = out.len().div_ceil(8) * 8;
            out.resize(padded, 0);
            cbc::Encryptor::<des::Des>::new_from_slices(&key[..8], &iv)
                .ok()?
                .encrypt_padded_mut::<cipher::block_padding::NoPadding>(out, padded)
                .ok()?;
            Some(salt)
        }
        PrivProtocol::Aes | PrivProtocol::Aes192 | PrivProtocol::Aes256 => {
            let salt = counter.to_be_bytes();
            let mut iv = [0u8; 16];
            iv[..4].copy_from_slice(&boots.to_be_bytes());
            iv[4..8].copy_from_slice(&time.to_be_bytes());
            iv[8..].copy_from_slice(&salt);
            match protocol {
                PrivProtocol::Aes => {
                    cfb_mode::Encryptor::<Aes128>::new_from_slices(key.get(..16)?, &iv).ok()?.encrypt(out)
                }
                PrivProtocol::Aes192 => {
                    cfb_mode::Encryptor::<Aes192>::new_from_slices(key.get(..24)?, &iv).ok()?.encrypt(out)
                }
                _ => cfb_mode::Encryptor::<Aes256>::new_from_slices(key.get(..32)?, &iv).ok()?.encrypt(out),
            }
            Some(salt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{AsyncStreamCipher, BlockEncryptMut};

    #[test]
    fn a_digest_is_checked_over_the_message_with_its_own_bytes_zeroed() {
        let key = b"0123456789abcdef0123456789abcdef";
        let mut message = b"header-............................-trailer".to_vec();
        let offset = 7;
        let mut hmac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        hmac.update(&message[..offset]);
        hmac.update(&[0u8; 24]);
        hmac.update(&message[offset + 24..]);
        let tag = hmac.finalize().into_bytes();
        message[offset..offset + 24].copy_from_slice(&tag[..24]);
        let mac = message[offset..offset + 24].to_vec();
        assert!(verify(AuthProtocol::Sha256, key, &message, offset, &mac));
        let mut wrong = mac.clone();
        wrong[0] ^= 1;
        assert!(!verify(AuthProtocol::Sha256, key, &message, offset, &wrong));
        assert!(!verify(AuthProtocol::Sha256, b"another key", &message, offset, &mac));
        assert!(!verify(AuthProtocol::Sha, key, &message, offset, &mac), "wrong length");
    }

    #[test]
    fn what_is_signed_and_encrypted_here_is_verified_and_decrypted_here() {
        let key: Vec<u8> = (0u8..64).collect();
        let plain = b"0\x11\x04\x00\x04\x00\xa0\x0b scoped PDU ... 41 bytes".to_vec();
        for protocol in PrivProtocol::ALL {
            let mut sealed = Vec::new();
            let salt = encrypt(protocol, &key, 7, 99, &plain, &mut sealed).unwrap();
            let mut opened = Vec::new();
            decrypt(protocol, &key, 7, 99, &salt, &sealed, &mut opened).unwrap();
            assert_eq!(&opened[..plain.len()], &plain[..], "{protocol:?}");
            assert_ne!(
                encrypt(protocol, &key, 7, 99, &plain, &mut Vec::new()).unwrap(),
                salt,
                "salts differ"
            );
        }
        for protocol in AuthProtocol::ALL {
            let mut message = vec![0x30u8; 100];
            message[40..40 + mac_length(protocol)].fill(0);
            sign(protocol, &key[..20], &mut message, 40).unwrap();
            let mac = message[40..40 + mac_length(protocol)].to_vec();
            assert!(verify(protocol, &key[..20], &message, 40, &mac), "{protocol:?}");
        }
    }

    #[test]
    fn aes_and_des_decrypt_what_they_encrypt() {
        let key: Vec<u8> = (0u8..32).collect();
        let salt = [9u8, 8, 7, 6, 5, 4, 3, 2];
        let plain = b"a scoped PDU of any length, 47 bytes long......".to_vec();
        let mut iv = [0u8; 16];
        iv[..4].copy_from_slice(&5u32.to_be_bytes());
        iv[4..8].copy_from_slice(&77u32.to_be_bytes());
        iv[8..].copy_from_slice(&salt);
        let mut encrypted = plain.clone();
        cfb_mode::Encryptor::<Aes128>::new_from_slices(&key[..16], &iv).unwrap().encrypt(&mut encrypted);
        let mut out = Vec::new();
        decrypt(PrivProtocol::Aes, &key, 5, 77, &salt, &encrypted, &mut out).unwrap();
        assert_eq!(out, plain);
        decrypt(PrivProtocol::Aes, &key, 6, 77, &salt, &encrypted, &mut out).unwrap();
        assert_ne!(out, plain, "another IV");

        let plain = b"sixteen bytes!!!twenty-four bytes.......".to_vec();
        let mut des_iv = [0u8; 8];
        for i in 0..8 {
            des_iv[i] = key[8 + i] ^ salt[i];
        }
        let mut encrypted = plain.clone();
        let length = encrypted.len();
        cbc::Encryptor::<des::Des>::new_from_slices(&key[..8], &des_iv)
            .unwrap()
            .encrypt_padded_mut::<cipher::block_padding::NoPadding>(&mut encrypted, length)
            .unwrap();
        decrypt(PrivProtocol::Des, &key, 0, 0, &salt, &encrypted, &mut out).unwrap();
        assert_eq!(out, plain);
        assert!(decrypt(PrivProtocol::Des, &key, 0, 0, &salt, &encrypted[..20], &mut out).is_none());
        assert!(decrypt(PrivProtocol::Aes, &key, 0, 0, &salt[..4], &encrypted, &mut out).is_none());
    }
}
