//! Parameter validation, with the messages STS uses.

use super::{Params, StsError};

/// A character class of the STS API model: word characters plus a few
/// punctuation marks, written in messages as the model's regex.
pub(super) struct Chars {
    regex: &'static str,
    punctuation: &'static str,
}

pub(super) const SESSION_NAME_CHARS: Chars = Chars {
    regex: "[\\w+=,.@-]*",
    punctuation: "+=,.@-",
};
pub(super) const EXTERNAL_ID_CHARS: Chars = Chars {
    regex: "[\\w+=,.@:\\/-]*",
    punctuation: "+=,.@:/-",
};
const SERIAL_CHARS: Chars = Chars {
    regex: "[\\w+=/:,.@-]*",
    punctuation: "+=/:,.@-",
};

impl Chars {
    pub(super) fn allows(&self, c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || self.punctuation.contains(c)
    }
}

pub(super) fn required<'a>(
    params: &'a Params,
    name: &str,
    member: &str,
) -> Result<&'a str, StsError> {
    params.get(name).ok_or_else(|| {
        StsError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

pub(super) fn length(value: &str, member: &str, min: usize, max: usize) -> Result<(), StsError> {
    let length = value.chars().count();
    let bound = if length < min {
        format!("greater than or equal to {min}")
    } else if length > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(constraint(
        value,
        member,
        &format!("Member must have length {bound}"),
    ))
}

/// Length bounds, then the character class.
pub(super) fn pattern(
    value: &str,
    member: &str,
    min: usize,
    max: usize,
    chars: &Chars,
) -> Result<(), StsError> {
    length(value, member, min, max)?;
    if value.chars().all(|c| chars.allows(c)) {
        Ok(())
    } else {
        Err(constraint(
            value,
            member,
            &format!(
                "Member must satisfy regular expression pattern: {}",
                chars.regex
            ),
        ))
    }
}

/// `SerialNumber` and `TokenCode`, checked for shape; `Some` when a
/// serial was sent (the code may still be missing: an MFA failure).
pub(super) fn mfa_params(params: &Params) -> Result<Option<(&str, Option<&str>)>, StsError> {
    let serial = params.get("SerialNumber");
    let code = params.get("TokenCode");
    if let Some(serial) = serial {
        pattern(serial, "serialNumber", 9, 256, &SERIAL_CHARS)?;
    }
    if let Some(code) = code {
        length(code, "tokenCode", 6, 6)?;
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(constraint(
                code,
                "tokenCode",
                "Member must satisfy regular expression pattern: [\\d]*",
            ));
        }
    }
    match (serial, code) {
        (Some(serial), code) => Ok(Some((serial, code))),
        (None, Some(_)) => Err(StsError::validation(
            "TokenCode was given without SerialNumber; both are needed for MFA".into(),
        )),
        (None, None) => Ok(None),
    }
}

pub(super) fn duration(params: &Params, default: u64, min: u64, max: u64) -> Result<u64, StsError> {
    let Some(raw) = params.get("DurationSeconds") else {
        return Ok(default);
    };
    let seconds: u64 = raw.parse().map_err(|_| {
        StsError::validation(format!(
            "Value '{raw}' for parameter DurationSeconds is invalid. Must be an integer"
        ))
    })?;
    let bound = if seconds < min {
        format!("greater than or equal to {min}")
    } else if seconds > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(seconds);
    };
    Err(constraint(
        raw,
        "durationSeconds",
        &format!("Member must have value {bound}"),
    ))
}

/// Role names use the same characters as session names.
pub(super) const ROLE_NAME_CHARS: Chars = SESSION_NAME_CHARS;

fn constraint(value: &str, member: &str, rule: &str) -> StsError {
    StsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}
