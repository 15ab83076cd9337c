//! The little cryptography the OATH host side does: the access key derived
//! from the password, the HMACs of the VALIDATE handshake, the device id shown
//! for a key, and random host challenges.

use hmac::{Hmac, Mac};
use sha2::Digest;
use zeroize::Zeroizing;

use super::account::Algorithm;
use super::Error;

/// PBKDF2 rounds and key length fixed by YKOATH.
const PBKDF2_ROUNDS: u32 = 1000;
pub const ACCESS_KEY_LEN: usize = 16;

/// The 16-byte key that unlocks a password-protected OATH applet:
/// PBKDF2-HMAC-SHA1(password, salt from SELECT, 1000 rounds). Wiped on drop,
/// never shown; it is worth as much as the password for this key.
#[derive(Clone)]
pub struct AccessKey(Zeroizing<[u8; ACCESS_KEY_LEN]>);

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(<hidden>)")
    }
}

impl AccessKey {
    /// Derive the key for `password` on the key whose SELECT gave `salt`.
    pub fn derive(password: &str, salt: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; ACCESS_KEY_LEN]);
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt, PBKDF2_ROUNDS, key.as_mut());
        AccessKey(key)
    }

    /// A key kept from an earlier derivation (e.g. a cache).
    pub fn from_bytes(bytes: [u8; ACCESS_KEY_LEN]) -> Self {
        AccessKey(Zeroizing::new(bytes))
    }

    /// The raw key, for whoever stores it.
    pub fn expose(&self) -> &[u8; ACCESS_KEY_LEN] {
        &self.0
    }
}

/// HMAC of `message` under `key` with the given hash. `None` only if the MAC
/// implementation rejects the key length, which HMAC never does.
pub fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    fn run<M: Mac + hmac::digest::KeyInit>(
        key: &[u8],
        message: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
        mac.update(message);
        Some(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, message),
    }
}

/// Eight random bytes for the host's VALIDATE challenge.
pub fn random_challenge() -> Result<[u8; 8], Error> {
    let mut challenge = [0u8; 8];
    getrandom::fill(&mut challenge)
        .map_err(|_| Error::Crypto("the system random generator failed"))?;
    Ok(challenge)
}

/// The device id ykman shows for an OATH applet: the first 16 bytes of
/// SHA-256(salt), base64 without padding. It changes when the applet is reset.
pub fn device_id(salt: &[u8]) -> String {
    let digest = sha2::Sha256::digest(salt);
    base64_unpadded(digest.get(..16).unwrap_or(&digest))
}

/// Standard base64 (RFC 4648 §4) without `=` padding. Hand-written: the one
/// place vegas needs base64, for a 16-byte id.
fn base64_unpadded(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |index: u32| {
        char::from(
            ALPHABET
                .get((index & 0x3F) as usize)
                .copied()
                .unwrap_or(b'A'),
        )
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group.iter_mut().zip(chunk).for_each(|(g, b)| *g = *b);
        let bits = u32::from_be_bytes([0, group[0], group[1], group[2]]);
        let symbols = chunk.len() + 1;
        for shift in [18, 12, 6, 0].into_iter().take(symbols) {
            out.push(symbol(bits >> shift));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn access_key_matches_ykman_derivation() {
        // hashlib.pbkdf2_hmac("sha1", b"password", bytes.fromhex("0102030405060708"), 1000, 16)
        let key = AccessKey::derive("password", &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(hex(key.expose()), "ed1b5a43d3a86504dd13c9da7606bd35");
    }

    #[test]
    fn access_key_debug_hides_the_key() {
        let key = AccessKey::from_bytes([0xAB; 16]);
        assert_eq!(format!("{key:?}"), "AccessKey(<hidden>)");
    }

    #[test]
    fn hmac_sha1_matches_rfc2202_case_2() {
        let mac = hmac(Algorithm::Sha1, b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(hex(&mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn device_id_matches_ykman() {
        // base64(sha256(bytes.fromhex("0102030405060708"))[:16]) without "="
        assert_eq!(
            device_id(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "ZoQN2hVOihE8Md0K0y9/Og"
        );
    }

    #[test]
    fn base64_handles_every_tail_length() {
        assert_eq!(base64_unpadded(b""), "");
        assert_eq!(base64_unpadded(b"f"), "Zg");
        assert_eq!(base64_unpadded(b"fo"), "Zm8");
        assert_eq!(base64_unpadded(b"foo"), "Zm9v");
        assert_eq!(base64_unpadded(b"foob"), "Zm9vYg");
    }

    #[test]
    fn random_challenges_differ() {
        assert_ne!(random_challenge().unwrap(), random_challenge().unwrap());
    }
}
