//! `vegas setup`: from a bare YubiKey to the first touch, in one command.
//!
//! The steps a new user would otherwise do by hand, with the seed in a file:
//! ask IAM who the source keys belong to, create a virtual MFA device, PUT
//! its seed on the key (TOTP, SHA-1, 6 digits, 30 s, touch unless
//! `--no-touch`), compute the codes of two consecutive time steps on the
//! key, enable the device with them, and write `mfa_serial` (and, with
//! `--role-arn`, a new vegas profile) into `~/.aws/config`, every other byte
//! kept. Then the doctor checks the new profile.
//!
//! Everything that can be refused is checked before anything is made (the
//! name on the key and in IAM, the profile, the config change, which the
//! person confirms: [`plan`]). After the device exists, any failure or Ctrl-C undoes
//! what was made ([`undo`]). The seed lives only in zeroizing memory: it
//! comes from the `vegas-sts` helper over its stdout pipe and goes to the
//! key in a PUT APDU, nowhere else.

use std::io::Write;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::cli::{OathAccess, SetupArgs};
use crate::config::Files;
use crate::credentials::Credentials;
use crate::oath::manage::{self, NewTotpAccount};
use crate::oath::{Account, AccountId, OathType, PcscTransport, Session, TimeStep};
use crate::sts::iam::{self, Answer, CreatedDevice, IamRequest, Operation, User};
use crate::sts::{Endpoint, Mfa, SessionTokenRequest};
use crate::ui::Ui;

pub mod error;
mod plan;
mod undo;

pub use error::Error;
use plan::{check_arguments, check_files, plan, Plan};
use undo::{Interrupt, Made};

/// What the person sees before each of the two CALCULATEs of a touch account.
const TOUCH_NOTICES: [&str; 2] = [
    "Touch your YubiKey… (code 1 of 2)",
    "Touch your YubiKey… (code 2 of 2)",
];
/// TOTP parameters of an AWS virtual MFA device.
const DIGITS: u8 = 6;
const PERIOD: Duration = Duration::from_secs(30);

/// How the closing doctor report is shown (the global flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub no_gui: bool,
    pub color: bool,
}

/// IAM as the source profile's keys see it, through the helper.
struct Iam<'a> {
    source_profile: &'a str,
    endpoint: Endpoint,
    /// Where STS is, for an MFA session on the way back ([`Iam::mfa_session`]).
    sts_endpoint: Endpoint,
    user: User,
}

impl<'a> Iam<'a> {
    /// Whose the keys of `source_profile` are (GetUser), at the endpoint the
    /// environment names.
    fn of(source_profile: &'a str, files: &Files) -> Result<Iam<'a>, crate::Error> {
        let region = files.get(source_profile, "region");
        let endpoint = iam::endpoint_from_env(region)?;
        let sts_endpoint = iam::sts_endpoint_from_env(region)?;
        match call_iam(source_profile, &endpoint, None, Operation::GetUser)? {
            Answer::User(user) => Ok(Iam {
                source_profile,
                endpoint,
                sts_endpoint,
                user,
            }),
            _ => Err(Error::UnexpectedAnswer { action: "GetUser" }.into()),
        }
    }

    fn call(&self, operation: Operation) -> Result<Answer, Error> {
        call_iam(self.source_profile, &self.endpoint, None, operation)
    }

    /// The call signed by an MFA session (`None`: by the long-term keys).
    fn call_as(
        &self,
        mfa_session: Option<&Credentials>,
        operation: Operation,
    ) -> Result<Answer, Error> {
        call_iam(self.source_profile, &self.endpoint, mfa_session, operation)
    }

    /// A short MFA session of the user (GetSessionToken with a code of the
    /// device being undone), for what a policy allows only with MFA.
    fn mfa_session(&self, serial: &str, code: Zeroizing<String>) -> Result<Credentials, Error> {
        let request = SessionTokenRequest {
            source_profile: self.source_profile.to_owned(),
            duration_seconds: crate::config::MIN_MFA_SESSION_DURATION,
            mfa: Mfa {
                serial: serial.to_owned(),
                token_code: code,
            },
            endpoint: self.sts_endpoint.clone(),
        };
        crate::sts::get_session_token(&request).map_err(|e| Error::Iam(e.into()))
    }

    fn user_name(&self) -> &str {
        &self.user.name
    }
}

fn call_iam(
    source: &str,
    endpoint: &Endpoint,
    mfa_session: Option<&Credentials>,
    operation: Operation,
) -> Result<Answer, Error> {
    Ok(iam::call(&IamRequest {
        source_profile: source.to_owned(),
        mfa_session: mfa_session.cloned(),
        endpoint: endpoint.clone(),
        operation,
    })?)
}

pub fn run(
    args: &SetupArgs,
    style: Style,
    ui: &dyn Ui,
    out: &mut dyn Write,
) -> Result<(), crate::Error> {
    check_arguments(args)?;
    let files = Files::load_allowing_no_config()?;
    check_files(args, &files)?;
    let (mut session, key_name) = open_key(args, ui)?;
    // IAM is asked next, and a person may be: other programs may use the
    // key meanwhile.
    session.release();
    let iam = Iam::of(&args.source_profile, &files)?;
    let plan = plan(args, &files, &iam, &mut session, &key_name, ui)?;
    ui.notice(&plan.edit.diff());
    if !args.yes {
        confirm(&plan, &iam, &key_name, ui)?;
    }
    let interrupt = Interrupt::catch()?;
    let mut made = Made::default();
    if let Err(e) = make(args, &plan, &iam, &mut session, &interrupt, &mut made, ui) {
        return Err(undo(e, made, &iam, &mut session, &interrupt, ui));
    }
    drop(interrupt);
    // Doctor opens the key itself.
    drop(session);
    ui.notice(&format!(
        "MFA device {} is enabled for {} and lives on YubiKey {key_name}.",
        plan.serial,
        iam.user_name()
    ));
    match &args.profile {
        Some(profile) => {
            let options = super::doctor::Options {
                profile: Some(profile),
                offline: false,
                json: false,
                no_gui: style.no_gui,
                color: style.color,
            };
            super::doctor::run(&options, out)
        }
        None => {
            ui.notice(
                "Add --role-arn ARN --profile P next time to have a vegas profile written too.",
            );
            Ok(())
        }
    }
}

/// Undo what `made` holds after `error`; the error to report, saying what
/// the rollback left behind.
fn undo(
    error: crate::Error,
    made: Made,
    iam: &Iam<'_>,
    session: &mut Session<PcscTransport>,
    interrupt: &Interrupt,
    ui: &dyn Ui,
) -> crate::Error {
    // A call that failed while Ctrl-C was pressed failed because of it, or
    // would be undone all the same: the person asked to stop.
    let error = match interrupt.check() {
        Err(interrupted) => interrupted.into(),
        Ok(()) => error,
    };
    if made.is_empty() {
        return error;
    }
    ui.notice("Undoing what setup made…");
    let left = made.undo(iam, session, ui);
    match error {
        crate::Error::Setup(Error::Interrupted { .. }) => Error::Interrupted { left }.into(),
        e if left.is_empty() => e,
        e => Error::NotUndone {
            cause: Box::new(e),
            left,
        }
        .into(),
    }
}

/// The YubiKey, unlocked, and how to name it (its serial, else its OATH
/// device id).
fn open_key(
    args: &SetupArgs,
    ui: &dyn Ui,
) -> Result<(Session<PcscTransport>, String), crate::Error> {
    let access = OathAccess {
        key: args.key.clone(),
        password_stdin: args.password_stdin,
        json: false,
    };
    let (info, mut session) = super::oath::open_unlocked(&access, ui)?;
    let key_name = match info.serial {
        Some(serial) => serial.to_string(),
        None => session
            .read_serial()?
            .map_or_else(|| info.device_id.clone(), |s| s.to_string()),
    };
    Ok((session, key_name))
}

/// The person's yes to the diff just shown, or the error that stops here.
fn confirm(plan: &Plan, iam: &Iam<'_>, key_name: &str, ui: &dyn Ui) -> Result<(), Error> {
    let question = format!(
        "Create MFA device {} for {}, put it on YubiKey {key_name}, and write this change?",
        plan.serial,
        iam.user_name()
    );
    let path = plan.edit.path.clone();
    match ui.confirm(&question) {
        Some(Ok(true)) => Ok(()),
        Some(Ok(false)) => Err(Error::Declined { path }),
        Some(Err(source)) => Err(Error::ConfirmInput { source }),
        None => Err(Error::CannotConfirm { path }),
    }
}

/// The steps that make something, each recorded in `made` before it can
/// have made it, so a failure anywhere undoes exactly what exists.
fn make(
    args: &SetupArgs,
    plan: &Plan,
    iam: &Iam<'_>,
    session: &mut Session<PcscTransport>,
    interrupt: &Interrupt,
    made: &mut Made,
    ui: &dyn Ui,
) -> Result<(), crate::Error> {
    let created = create_device(plan, iam, made)?;
    interrupt.check()?;
    let secret = decode_seed(&created)?;
    drop(created);
    // Recorded before the PUT, which may store it and still fail on the
    // way back; no account of this id was on the key before (see `plan`).
    made.account = Some(plan.account.clone());
    made.touch = !args.no_touch;
    let put = manage::put(
        session,
        &NewTotpAccount {
            id: &plan.account,
            secret: &secret,
            digits: DIGITS,
            touch: !args.no_touch,
        },
    );
    if let Err(e) = put {
        if matches!(e, crate::oath::Error::AccountExists { .. }) {
            // Made since the plan, by someone else: not ours to delete.
            made.account = None;
        }
        return Err(e.into());
    }
    drop(secret);
    interrupt.check()?;
    let ([first_code, second_code], second_step) =
        two_codes(session, &plan.account, !args.no_touch, interrupt, ui)?;
    made.codes_used_until = Some(second_step);
    // As for the device: enabled unless IAM itself said no.
    made.enabled = true;
    let enabled = iam.call(Operation::EnableMfaDevice {
        user_name: iam.user_name().to_owned(),
        serial: plan.serial.clone(),
        first_code,
        second_code,
    });
    if let Err(e) = enabled {
        made.enabled = !iam_answered(&e);
        return Err(e.into());
    }
    record_used_steps(&plan.serial, second_step, ui);
    interrupt.check()?;
    let written = plan.edit.apply()?;
    made.config = Some((plan.edit.clone(), written));
    interrupt.check()?;
    Ok(())
}

/// CreateVirtualMFADevice, with `made` naming the device from before the
/// call (an interrupted call may have made it) unless IAM said no.
fn create_device(plan: &Plan, iam: &Iam<'_>, made: &mut Made) -> Result<CreatedDevice, Error> {
    made.device = Some(plan.serial.clone());
    let created = match iam.call(Operation::CreateVirtualMfaDevice {
        device_name: plan.device_name.clone(),
    }) {
        Ok(Answer::Created(created)) => created,
        Ok(_) => {
            return Err(Error::UnexpectedAnswer {
                action: "CreateVirtualMFADevice",
            })
        }
        Err(e) => {
            if iam_answered(&e) {
                // IAM said no: there is no device of ours to delete (and one
                // of that name may be someone else's).
                made.device = None;
            }
            return Err(e);
        }
    };
    if created.serial != plan.serial {
        made.device = Some(created.serial.clone());
        return Err(Error::UnexpectedAnswer {
            action: "CreateVirtualMFADevice",
        });
    }
    Ok(created)
}

/// Whether IAM itself refused the call (so it made nothing).
fn iam_answered(error: &Error) -> bool {
    matches!(error, Error::Iam(e) if e.refused_by_iam())
}

/// The seed's bytes, decoded from IAM's base32 straight into zeroizing memory.
fn decode_seed(created: &CreatedDevice) -> Result<Zeroizing<Vec<u8>>, Error> {
    let malformed = || Error::MalformedSeed {
        serial: created.serial.clone(),
    };
    let text = created.seed_base32.trim().trim_end_matches('=');
    let encoding = &data_encoding::BASE32_NOPAD;
    let len = encoding.decode_len(text.len()).map_err(|_| malformed())?;
    let mut secret = Zeroizing::new(vec![0u8; len]);
    let written = encoding
        .decode_mut(text.as_bytes(), &mut secret)
        .map_err(|_| malformed())?;
    secret.truncate(written);
    Ok(secret)
}

/// IAM has seen the codes of the two steps up to `second`: `vegas assume`
/// must not send either to STS (AWS refuses a code used once), so the
/// device's step record in the cache (the one [`crate::flow`] keeps) says
/// they are used, and the first assume waits for the next step. Without a
/// cache that assume may be refused; that is warned about.
pub(super) fn record_used_steps(serial: &str, second: TimeStep, ui: &dyn Ui) {
    let recorded = crate::platform::cache_dir()
        .map_err(|e| e.to_string())
        .and_then(|dir| dir.ok_or_else(|| "no cache directory".to_owned()))
        .and_then(|dir| crate::cache::Cache::open(&dir).map_err(|e| e.to_string()))
        .and_then(|(cache, _)| {
            cache
                .record_used(serial, second, crate::platform::unix_now())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = recorded {
        ui.warn(&format!(
            "cannot record the time steps of the two codes in the cache ({e}); \
             the first `vegas assume` may be refused once"
        ));
    }
}

/// The codes of the previous time step and the current one, from the key
/// (it computes any step it is given: no waiting 30 s), and the second's
/// step. These are the two codes a person reading an authenticator would
/// type, and the current one is used up when the step ends, so the first
/// `vegas assume` waits at most one step for a fresh code
/// ([`record_used_steps`]).
fn two_codes(
    session: &mut Session<PcscTransport>,
    id: &AccountId,
    touch: bool,
    interrupt: &Interrupt,
    ui: &dyn Ui,
) -> Result<([Zeroizing<String>; 2], TimeStep), crate::Error> {
    let mut account = Account::new(id.clone(), OathType::Totp);
    account.touch = Some(touch);
    let now = SystemTime::now();
    let mut codes: [Zeroizing<String>; 2] = Default::default();
    let previous = now.checked_sub(PERIOD).unwrap_or(now);
    for ((code, at), notice) in codes.iter_mut().zip([previous, now]).zip(TOUCH_NOTICES) {
        if touch {
            ui.notice(notice);
        }
        *code = Zeroizing::new(session.calculate(&account, at)?.expose().to_owned());
        interrupt.check()?;
    }
    Ok((codes, TimeStep::at_time(now, crate::totp::STS_PERIOD)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_decoded_from_base32_as_iam_sends_it() {
        let created = CreatedDevice {
            serial: "s".into(),
            seed_base32: Zeroizing::new("JBSWY3DPEHPK3PXP".into()),
        };
        assert_eq!(
            decode_seed(&created).unwrap().as_slice(),
            b"Hello!\xde\xad\xbe\xef"
        );
        let bad = CreatedDevice {
            serial: "s".into(),
            seed_base32: Zeroizing::new("not base32!".into()),
        };
        assert!(matches!(
            decode_seed(&bad),
            Err(Error::MalformedSeed { .. })
        ));
    }
}
