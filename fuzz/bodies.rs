//! The bodies of the fuzz targets, one function each, shared by the
//! libFuzzer binaries (fuzz_targets/) and by tests/fuzz_replay.rs, which
//! replays the seed corpora (fixtures/fuzz/) and random inputs on stable Rust
//! in every `cargo test`. Each takes any bytes and must not panic.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use vegas::cache::{Cache, CacheKey, EntryMeta, MachineIdentity};
use vegas::config::Files;
use vegas::credentials::Credentials;
use vegas::oath::session::{parse_calculate, parse_calculate_all, parse_list, parse_select};
use vegas::oath::{tlv, Session, TimeStep, Transport};
use zeroize::Zeroizing;

/// The YKOATH TLV reader: any bytes a card sends parse to TLVs or to an
/// error, never a panic, and every TLV found lies inside the input.
pub fn oath_tlv(data: &[u8]) {
    if let Ok(tlvs) = tlv::parse_all(data) {
        let total: usize = tlvs.iter().map(|t| t.value.len()).sum();
        assert!(total <= data.len());
        for tag in [0x71, 0x72, 0x74, 0x75, 0x76, 0x77, 0x79, 0x7A, 0x7B, 0x7C] {
            let _ = tlv::find(&tlvs, tag);
        }
    }
}

/// The parsers of the OATH applet's answers (SELECT, LIST, CALCULATE ALL,
/// CALCULATE), each fed the data of a response after chaining: an error or a
/// value, never a panic. The first byte picks the parser.
pub fn oath_responses(input: &[u8]) {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    match which % 5 {
        0 => drop(parse_select(data)),
        1 => drop(parse_list(data)),
        2 => drop(parse_calculate_all(data)),
        3 => drop(parse_calculate(data, None)),
        _ => drop(parse_calculate(data, Some(TimeStep::at(1_800_000_000, 30)))),
    }
}

struct ScriptedCard<'a> {
    script: &'a [u8],
    commands: usize,
}

impl Transport for ScriptedCard<'_> {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, vegas::oath::Error> {
        self.commands += 1;
        // A card that never stops chaining is cut off by vegas's 64 KiB
        // limit; this bound only keeps a run short.
        assert!(self.commands < 100_000, "vegas kept sending commands");
        let (&len, rest) = match self.script.split_first() {
            Some(split) => split,
            // An exhausted script answers "more data" forever (a hostile card).
            None => return Ok(vec![0xAB; 255].into_iter().chain([0x61, 0xFF]).collect()),
        };
        let (answer, rest) = rest.split_at(usize::from(len).min(rest.len()));
        self.script = rest;
        Ok(answer.to_vec())
    }
}

/// A whole OATH session against a card whose every answer comes from the
/// fuzzer: SELECT, LIST and CALCULATE ALL with `61xx` response chaining and
/// status words. The input is a script of answers, each a one-byte length
/// then that many bytes (data and SW1 SW2). vegas must end with accounts,
/// codes or an error — never a panic, never a loop.
pub fn oath_session(script: &[u8]) {
    let card = ScriptedCard {
        script,
        commands: 0,
    };
    let Ok(mut session) = Session::open(card) else {
        return;
    };
    let _ = session.list();
    let _ = session.calculate_all(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
}

/// The AWS shared config and credentials files as vegas reads them: any text
/// parses or fails with an error naming file and line; every profile then
/// resolves or fails with an error — never a panic. A 0xFF byte (never in
/// UTF-8) separates the config file from the credentials file.
pub fn config(input: &[u8]) {
    let mut parts = input.splitn(2, |&b| b == 0xFF);
    let config = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let credentials = parts.next().map(String::from_utf8_lossy);
    let Ok(files) = Files::from_strs(&config, credentials.as_deref()) else {
        return;
    };
    for profile in files.vegas_profiles() {
        let _ = files.resolve(&profile);
    }
    let _ = files.resolve("default");
}

const NOW: i64 = 1_800_000_000;

struct Rig {
    _dir: tempfile::TempDir,
    cache: Cache,
    writer: rusqlite::Connection,
    key: CacheKey,
    sealed: Credentials,
}

fn rig() -> &'static Mutex<Rig> {
    static RIG: OnceLock<Mutex<Rig>> = OnceLock::new();
    RIG.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let identity = MachineIdentity::new("boot-fuzz", b"host-fuzz".to_vec(), 1000);
        let (cache, _) = Cache::open_with_identity(dir.path(), identity).expect("open cache");
        let key = CacheKey::new("fuzz", &[("role_arn", "arn:aws:iam::1:role/x")]);
        let sealed = Credentials {
            access_key_id: "ASIAFUZZFUZZFUZZFUZZ".into(),
            secret_access_key: Zeroizing::new("secret".into()),
            session_token: Zeroizing::new("token".into()),
            expires_at: NOW + 3600,
        };
        let meta = EntryMeta {
            profile: "fuzz".into(),
            role_arn: "arn:aws:iam::1:role/x".into(),
            mfa_serial: "arn:aws:iam::1:mfa/x".into(),
        };
        cache.put(&key, &meta, &sealed, NOW).expect("seal a row");
        let writer = rusqlite::Connection::open(cache.path()).expect("second connection");
        Mutex::new(Rig {
            _dir: dir,
            cache,
            writer,
            key,
            sealed,
        })
    })
}

/// The cache's row decoder: a row whose columns hold anything (as a damaged
/// disk, another program or an attacker with the user's rights could leave)
/// is a miss, never credentials it did not seal and never a panic. The input
/// is split into expires_at, iv, ciphertext and mac, written over a real
/// sealed row with SQL, then read back with `Cache::get` and `Cache::list`.
pub fn cache_row(input: &[u8]) {
    let rig = rig().lock().unwrap_or_else(|p| p.into_inner());
    let (head, rest) = input.split_at(input.len().min(9));
    let (&selector, expires) = head.split_first().unwrap_or((&0, &[]));
    let mut expires_at = [0u8; 8];
    expires_at[..expires.len()].copy_from_slice(expires);
    let expires_at = i64::from_le_bytes(expires_at);
    let third = rest.len() / 3;
    let (iv, rest) = rest.split_at(third);
    let (ciphertext, mac) = rest.split_at(third);
    // Damage one column or all of them.
    let sql = match selector % 5 {
        0 => "UPDATE credentials SET expires_at = ?1",
        1 => "UPDATE credentials SET iv = ?2",
        2 => "UPDATE credentials SET ciphertext = ?3",
        3 => "UPDATE credentials SET mac = ?4",
        _ => "UPDATE credentials SET expires_at = ?1, iv = ?2, ciphertext = ?3, mac = ?4",
    };
    let mut stmt = rig.writer.prepare_cached(sql).expect("prepare");
    let params: &[&dyn rusqlite::ToSql] = match selector % 5 {
        0 => &[&expires_at],
        1 => &[&None::<i64>, &iv],
        2 => &[&None::<i64>, &None::<i64>, &ciphertext],
        3 => &[&None::<i64>, &None::<i64>, &None::<i64>, &mac],
        _ => &[&expires_at, &iv, &ciphertext, &mac],
    };
    let _ = stmt.execute(params);
    drop(stmt);
    if let Ok(Some(served)) = rig.cache.get(&rig.key, NOW) {
        // Only what vegas sealed can come out: the MAC covers every column.
        assert!(served == rig.sealed, "a damaged row was served");
    }
    let _ = rig.cache.list(NOW);
    // Put the sealed row back (get deletes a row that fails its MAC).
    let meta = EntryMeta {
        profile: "fuzz".into(),
        role_arn: "arn:aws:iam::1:role/x".into(),
        mfa_serial: "arn:aws:iam::1:mfa/x".into(),
    };
    let _ = rig.cache.put(&rig.key, &meta, &rig.sealed, NOW);
}
