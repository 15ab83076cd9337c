//! Sealing cache rows: AES-256-CTR with a fresh random IV per write, then
//! HMAC-SHA256 over the IV, the ciphertext and the row's address and expiry
//! (encrypt-then-MAC), so a row can be neither read, altered, moved to
//! another key nor given a longer life without the keys.
//!
//! Both keys come from HKDF-SHA256 over the [`MachineIdentity`] and, where
//! there is a keyring, the random cache secret kept in it; one `info` label
//! each. A reboot, another host, another user or another (or no) secret
//! derives other keys and every row fails its MAC, which the store treats as
//! a miss.

use std::fmt;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::identity::SECRET_LEN;
use super::{Error, MachineIdentity};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

pub(crate) const IV_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Bumped if the sealing format ever changes (together with the schema).
const HKDF_SALT: &[u8] = b"vegas credential cache v1";
const INFO_ENCRYPTION: &[u8] = b"vegas cache v1: AES-256-CTR row encryption key";
const INFO_AUTHENTICATION: &[u8] = b"vegas cache v1: HMAC-SHA256 row authentication key";
const MAC_LABEL: &[u8] = b"vegas cache v1 row";
/// Marks the keyring secret in the key derivation's input.
const KEYRING_SECRET_LABEL: &[u8] = b"vegas cache v1: keyring secret";

/// Where a sealed row lives. Part of what the MAC covers, so a row copied
/// under another key (or into another table) fails to open.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowAddress<'a> {
    Credentials { cache_key: &'a str },
    Secret { kind: &'a str, id: &'a str },
}

/// The three stored columns of a sealed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedRow {
    pub iv: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub mac: Vec<u8>,
}

/// The encryption key and the MAC key for one machine identity.
pub(crate) struct RowKeys {
    encryption: Zeroizing<[u8; KEY_LEN]>,
    authentication: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for RowKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowKeys(<redacted>)")
    }
}

impl RowKeys {
    /// Keys for `identity`, and `secret` when the keyring gave one. Without
    /// a secret the input is exactly what it was before secrets existed, so
    /// a machine without a keyring keeps reading its rows.
    pub fn derive(
        identity: &MachineIdentity,
        secret: Option<&[u8; SECRET_LEN]>,
    ) -> Result<RowKeys, Error> {
        let mut ikm = Zeroizing::new(Vec::with_capacity(192));
        push_length_prefixed(&mut ikm, identity.boot_id().as_bytes());
        push_length_prefixed(&mut ikm, identity.host());
        push_length_prefixed(&mut ikm, &identity.uid().to_be_bytes());
        if let Some(secret) = secret {
            push_length_prefixed(&mut ikm, KEYRING_SECRET_LABEL);
            push_length_prefixed(&mut ikm, secret);
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), &ikm);
        let mut keys = RowKeys {
            encryption: Zeroizing::new([0; KEY_LEN]),
            authentication: Zeroizing::new([0; KEY_LEN]),
        };
        let derived = hkdf
            .expand(INFO_ENCRYPTION, keys.encryption.as_mut())
            .is_ok()
            && hkdf
                .expand(INFO_AUTHENTICATION, keys.authentication.as_mut())
                .is_ok();
        if !derived {
            return Err(Error::Crypto {
                what: "key derivation failed",
            });
        }
        Ok(keys)
    }

    /// Encrypt `plaintext` under a fresh random IV and authenticate it for
    /// `address` and `expires_at`.
    pub fn seal(
        &self,
        address: RowAddress<'_>,
        expires_at: i64,
        plaintext: &[u8],
    ) -> Result<SealedRow, Error> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| Error::Crypto {
            what: "the system gave no random numbers",
        })?;
        let mut ciphertext = plaintext.to_vec();
        Aes256Ctr::new(self.encryption.as_ref().into(), (&iv).into())
            .apply_keystream(&mut ciphertext);
        let mac = self
            .mac(address, expires_at, &iv, &ciphertext)
            .ok_or(Error::Crypto {
                what: "the MAC key was refused",
            })?
            .finalize()
            .into_bytes()
            .to_vec();
        Ok(SealedRow {
            iv: iv.to_vec(),
            ciphertext,
            mac,
        })
    }

    /// The plaintext of `row`, or `None` when the MAC does not verify (other
    /// keys, a changed byte, a row moved or extended). Checked in constant
    /// time before anything is decrypted.
    pub fn open(
        &self,
        address: RowAddress<'_>,
        expires_at: i64,
        row: &SealedRow,
    ) -> Option<Zeroizing<Vec<u8>>> {
        self.mac(address, expires_at, &row.iv, &row.ciphertext)?
            .verify_slice(&row.mac)
            .ok()?;
        let iv = <&[u8; IV_LEN]>::try_from(row.iv.as_slice()).ok()?;
        let mut plaintext = Zeroizing::new(row.ciphertext.clone());
        Aes256Ctr::new(self.encryption.as_ref().into(), iv.into())
            .apply_keystream(plaintext.as_mut_slice());
        Some(plaintext)
    }

    /// Whether `row` carries a valid MAC, without decrypting it.
    pub fn authentic(&self, address: RowAddress<'_>, expires_at: i64, row: &SealedRow) -> bool {
        self.mac(address, expires_at, &row.iv, &row.ciphertext)
            .is_some_and(|mac| mac.verify_slice(&row.mac).is_ok())
    }

    /// HMAC over a length-prefixed encoding of every field, so no field's
    /// bytes can be shifted into its neighbour.
    fn mac(
        &self,
        address: RowAddress<'_>,
        expires_at: i64,
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.authentication.as_ref()).ok()?;
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(MAC_LABEL);
        match address {
            RowAddress::Credentials { cache_key } => {
                field(b"credentials");
                field(cache_key.as_bytes());
            }
            RowAddress::Secret { kind, id } => {
                field(b"secret");
                field(kind.as_bytes());
                field(id.as_bytes());
            }
        }
        field(&expires_at.to_be_bytes());
        field(iv);
        field(ciphertext);
        Some(mac)
    }
}

fn push_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(boot: &str) -> RowKeys {
        RowKeys::derive(&MachineIdentity::new(boot, "host", 1000), None).unwrap()
    }

    const ADDR: RowAddress<'static> = RowAddress::Credentials { cache_key: "p:abc" };

    #[test]
    fn sealed_row_opens_to_the_plaintext() {
        let k = keys("boot");
        let row = k.seal(ADDR, 100, b"hello credentials").unwrap();
        assert_ne!(row.ciphertext, b"hello credentials");
        assert_eq!(row.iv.len(), IV_LEN);
        assert_eq!(row.mac.len(), 32);
        assert_eq!(
            k.open(ADDR, 100, &row).unwrap().as_slice(),
            b"hello credentials"
        );
        assert!(k.authentic(ADDR, 100, &row));
    }

    #[test]
    fn every_write_uses_a_fresh_iv() {
        let k = keys("boot");
        let a = k.seal(ADDR, 100, b"same").unwrap();
        let b = k.seal(ADDR, 100, b"same").unwrap();
        assert_ne!(a.iv, b.iv);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn encryption_and_mac_keys_differ() {
        let k = keys("boot");
        assert_ne!(*k.encryption, *k.authentication);
    }

    #[test]
    fn row_fails_under_another_address_expiry_or_identity() {
        let k = keys("boot");
        let row = k.seal(ADDR, 100, b"x").unwrap();
        assert!(k
            .open(RowAddress::Credentials { cache_key: "p:abd" }, 100, &row)
            .is_none());
        assert!(k.open(ADDR, 101, &row).is_none());
        assert!(k
            .open(
                RowAddress::Secret {
                    kind: "credentials",
                    id: "p:abc"
                },
                100,
                &row
            )
            .is_none());
        assert!(keys("other boot").open(ADDR, 100, &row).is_none());
        let other_host =
            RowKeys::derive(&MachineIdentity::new("boot", "host2", 1000), None).unwrap();
        assert!(other_host.open(ADDR, 100, &row).is_none());
        let other_user =
            RowKeys::derive(&MachineIdentity::new("boot", "host", 1001), None).unwrap();
        assert!(other_user.open(ADDR, 100, &row).is_none());
    }

    #[test]
    fn a_row_opens_only_with_the_secret_it_was_sealed_with() {
        let identity = MachineIdentity::new("boot", "host", 1000);
        let with_a = RowKeys::derive(&identity, Some(&[1; SECRET_LEN])).unwrap();
        let with_b = RowKeys::derive(&identity, Some(&[2; SECRET_LEN])).unwrap();
        let without = RowKeys::derive(&identity, None).unwrap();
        let row = with_a.seal(ADDR, 100, b"x").unwrap();
        assert!(with_a.open(ADDR, 100, &row).is_some());
        assert!(with_b.open(ADDR, 100, &row).is_none());
        assert!(without.open(ADDR, 100, &row).is_none());
        let old = without.seal(ADDR, 100, b"x").unwrap();
        assert!(with_a.open(ADDR, 100, &old).is_none());
        assert!(
            keys("boot").open(ADDR, 100, &old).is_some(),
            "no secret: as before"
        );
    }

    #[test]
    fn secret_addresses_cannot_shift_bytes_between_kind_and_id() {
        let k = keys("boot");
        let a = RowAddress::Secret {
            kind: "ab",
            id: "c",
        };
        let b = RowAddress::Secret {
            kind: "a",
            id: "bc",
        };
        let row = k.seal(a, 1, b"x").unwrap();
        assert!(k.open(b, 1, &row).is_none());
    }

    #[test]
    fn any_flipped_bit_fails_the_mac() {
        let k = keys("boot");
        let row = k.seal(ADDR, 100, b"some plaintext").unwrap();
        for field in 0..3 {
            let len = [row.iv.len(), row.ciphertext.len(), row.mac.len()][field];
            for i in 0..len {
                let mut bad = row.clone();
                let bytes = match field {
                    0 => &mut bad.iv,
                    1 => &mut bad.ciphertext,
                    _ => &mut bad.mac,
                };
                bytes[i] ^= 0x01;
                assert!(k.open(ADDR, 100, &bad).is_none(), "field {field} byte {i}");
            }
        }
        let mut longer = row.clone();
        longer.ciphertext.push(0);
        assert!(k.open(ADDR, 100, &longer).is_none());
    }

    #[test]
    fn debug_masks_the_keys() {
        assert_eq!(format!("{:?}", keys("boot")), "RowKeys(<redacted>)");
    }
}
