//! Published answers of real YubiKeys (fixtures/transcripts/, each file
//! naming its source) replayed through the parsers: the virtual card is
//! checked against ykman, and the parsers here against keys vegas has not
//! met.

use serde_json::Value;

use super::account::Account;
use super::crypto::device_id;
use super::session::{parse_calculate, parse_calculate_all, parse_list, parse_select, Calculated};
use super::testing::hex;
use super::Code;

const NET_SDK: &str = include_str!("../../fixtures/transcripts/yubico-net-sdk-oath.json");

fn exchanges(text: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(text).expect("a transcript file is JSON");
    assert!(
        file["source"]
            .as_str()
            .is_some_and(|s| s.contains("github.com")),
        "a transcript names its source"
    );
    file["exchanges"].as_array().expect("exchanges").clone()
}

/// The response's data, its status word checked to be 9000.
fn data_of(exchange: &Value) -> Vec<u8> {
    let mut bytes = hex(exchange["response"].as_str().expect("response"));
    let sw = bytes.split_off(bytes.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{}", exchange["name"]);
    bytes
}

fn check_account(account: &Account, expect: &Value, name: &str) {
    assert_eq!(account.id.text(), expect["id"], "{name}");
    assert_eq!(
        account.issuer.as_deref(),
        expect["issuer"].as_str(),
        "{name}"
    );
    assert_eq!(account.name, expect["name"], "{name}");
    assert_eq!(account.oath_type.as_str(), expect["type"], "{name}");
    assert_eq!(
        account.algorithm.map(|a| a.as_str()),
        expect["algorithm"].as_str(),
        "{name}"
    );
    assert_eq!(
        account.period.map(u64::from),
        expect["period"].as_u64(),
        "{name}"
    );
}

fn replay(exchange: &Value) {
    let name = exchange["name"].as_str().expect("name");
    let expect = &exchange["expect"];
    let data = data_of(exchange);
    match exchange["command"].as_str().expect("command") {
        "SELECT" => {
            let select = parse_select(&data).expect(name);
            assert_eq!(select.version.to_string(), expect["version"], "{name}");
            assert_eq!(
                select.salt,
                hex(expect["salt"].as_str().expect("salt")),
                "{name}"
            );
            assert_eq!(
                select.challenge,
                expect["challenge"].as_str().map(hex),
                "{name}"
            );
            if let Some(algorithm) = expect["algorithm"].as_str() {
                assert_eq!(select.key_algorithm.as_str(), algorithm, "{name}");
            }
            assert!(!device_id(&select.salt).is_empty(), "{name}");
        }
        "LIST" => {
            let accounts = parse_list(&data).expect(name);
            let expected = expect["accounts"].as_array().expect("accounts");
            assert_eq!(accounts.len(), expected.len(), "{name}");
            for (account, expected) in accounts.iter().zip(expected) {
                check_account(account, expected, name);
            }
        }
        "CALCULATE ALL" => {
            let entries = parse_calculate_all(&data).expect(name);
            let expected = expect["calculated"].as_array().expect("calculated");
            assert_eq!(entries.len(), expected.len(), "{name}");
            for ((id, answer), expected) in entries.iter().zip(expected) {
                assert_eq!(id.text(), expected["id"], "{name}");
                match answer {
                    Calculated::Truncated(value) => {
                        let code = Code::from_truncated_response(value, None).expect(name);
                        assert_eq!(code.expose(), expected["code"], "{name}");
                    }
                    Calculated::Hotp => assert_eq!(expected["hotp"], true, "{name}"),
                    Calculated::Touch => assert_eq!(expected["touch"], true, "{name}"),
                }
            }
        }
        "CALCULATE" => {
            let code = parse_calculate(&data, None).expect(name);
            assert_eq!(code.expose(), expect["code"], "{name}");
        }
        other => panic!("{name}: no parser for {other}"),
    }
}

#[test]
fn the_yubico_net_sdk_transcripts_parse_as_published() {
    let exchanges = exchanges(NET_SDK);
    assert!(exchanges.len() >= 10);
    for exchange in &exchanges {
        replay(exchange);
    }
}
