//! What `vegas setup` decides before it makes anything: the arguments and
//! files checked, the device and account named (neither may exist yet), and
//! the config change planned, so that the person confirms all of it at once.

use crate::cli::SetupArgs;
use crate::config::edit::{self, ConfigEdit};
use crate::config::{is_role_arn, Files, SourceCredentials};
use crate::oath::manage;
use crate::oath::{self, AccountId, PcscTransport, Session};
use crate::sts::iam::{Answer, Operation};
use crate::ui::Ui;

use super::error::Error;
use super::Iam;

/// Everything decided before anything is made.
pub(super) struct Plan {
    pub(super) device_name: String,
    pub(super) serial: String,
    pub(super) account: AccountId,
    pub(super) edit: ConfigEdit,
}

/// What is wrong with the arguments themselves.
pub(super) fn check_arguments(args: &SetupArgs) -> Result<(), Error> {
    if let Some(role_arn) = &args.role_arn {
        if !is_role_arn(role_arn) {
            return Err(Error::InvalidRoleArn {
                value: role_arn.clone(),
            });
        }
    }
    if let Some(profile) = &args.profile {
        if !is_profile_name(profile) {
            return Err(Error::InvalidProfileName {
                value: profile.clone(),
            });
        }
    }
    if let Some(name) = &args.device_name {
        if !is_device_name(name) {
            return Err(Error::InvalidDeviceName {
                value: name.clone(),
            });
        }
    }
    Ok(())
}

/// What is wrong in the files for these arguments, before the key is asked.
pub(super) fn check_files(args: &SetupArgs, files: &Files) -> Result<(), crate::Error> {
    if let Some(profile) = &args.profile {
        if files.has_profile(profile) || *profile == args.source_profile {
            return Err(Error::ProfileExists {
                profile: profile.clone(),
                path: files.config_path.clone(),
            }
            .into());
        }
        // Keys there would be used instead of credential_process.
        if files.has_credentials(profile) {
            return Err(Error::ProfileExists {
                profile: profile.clone(),
                path: files.credentials_path.clone(),
            }
            .into());
        }
    }
    let source = &args.source_profile;
    let message = match files.source_credentials(source) {
        SourceCredentials::CredentialsFile | SourceCredentials::ConfigFile => return Ok(()),
        SourceCredentials::OtherProvider(key) => {
            format!("it gets credentials through {key}; setup needs an IAM user's long-term keys")
        }
        SourceCredentials::Missing {
            missing,
            section_in_credentials: true,
        } => format!(
            "[{source}] in {} has no {}",
            files.credentials_path.display(),
            missing.join(" or ")
        ),
        SourceCredentials::Missing { .. } => format!(
            "neither {} nor the config file has keys for it",
            files.credentials_path.display()
        ),
    };
    Err(crate::sts::Error::NoSourceCredentials {
        profile: source.clone(),
        message,
    }
    .into())
}

/// A profile name setup writes: it becomes a section header
/// (`[profile NAME]`) and a word of the `credential_process` command line,
/// so only characters that can break neither: letters, digits and
/// `-_.@+:/`, at most 128.
fn is_profile_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+:/".contains(c))
}

/// IAM's rule for a virtual MFA device name: 1–226 of `[\w+=,.@-]`.
fn is_device_name(name: &str) -> bool {
    (1..=226).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Name the device and the account, check neither exists, plan the config.
pub(super) fn plan(
    args: &SetupArgs,
    files: &Files,
    iam: &Iam<'_>,
    session: &mut Session<PcscTransport>,
    key_name: &str,
    ui: &dyn Ui,
) -> Result<Plan, crate::Error> {
    let device_name = args
        .device_name
        .clone()
        .unwrap_or_else(|| format!("vegas-{key_name}"));
    let (Some(partition), Some(account_id)) = (iam.user.partition(), iam.user.account_id()) else {
        return Err(Error::UnexpectedAnswer { action: "GetUser" }.into());
    };
    let serial = format!("arn:{partition}:iam::{account_id}:mfa/{device_name}");
    let devices = match iam.call(Operation::ListMfaDevices {
        user_name: iam.user_name().to_owned(),
    })? {
        Answer::MfaDevices(devices) => devices,
        _ => {
            return Err(Error::UnexpectedAnswer {
                action: "ListMFADevices",
            }
            .into())
        }
    };
    if devices.contains(&serial) {
        return Err(Error::DeviceInUse {
            serial,
            user: iam.user_name().to_owned(),
        }
        .into());
    }
    if !devices.is_empty() {
        ui.notice(&format!(
            "{} has {} MFA device(s) already ({}); this adds one.",
            iam.user_name(),
            devices.len(),
            devices.join(", ")
        ));
    }
    let account = account_id_for(&serial, &device_name);
    if session.list()?.iter().any(|a| a.id == account) {
        return Err(oath::Error::AccountExists { id: account.text() }.into());
    }
    let edit = plan_config(args, files, &serial, &account)?;
    Ok(Plan {
        device_name,
        serial,
        account,
        edit,
    })
}

/// The OATH account id: the MFA device ARN when it fits the key's 64 bytes
/// (vegas's default `vegas_yubikey_label`), else `AWS:` and the device name,
/// cut to fit.
fn account_id_for(serial: &str, device_name: &str) -> AccountId {
    if serial.len() <= manage::MAX_ID_BYTES {
        return AccountId::new(serial);
    }
    let mut id = format!("AWS:{device_name}");
    while id.len() > manage::MAX_ID_BYTES {
        id.pop();
    }
    AccountId::new(&id)
}

/// The change to the config file: `mfa_serial` (and the label, and the key's
/// serial when one was chosen) in the source profile's section, and the new
/// vegas profile appended.
fn plan_config(
    args: &SetupArgs,
    files: &Files,
    serial: &str,
    account: &AccountId,
) -> Result<ConfigEdit, crate::Error> {
    let path = files.config_path.clone();
    let before = ConfigEdit::read(&path)?;
    let label = account.text();
    let key_serial = args.key.serial.map(|s| s.to_string());
    let mut source_settings: Vec<(&str, &str)> = vec![("mfa_serial", serial)];
    // A label left from an older device would name the wrong account.
    let had_label = files
        .get(&args.source_profile, "vegas_yubikey_label")
        .is_some();
    if label != serial || had_label {
        source_settings.push(("vegas_yubikey_label", &label));
    }
    if let Some(key_serial) = &key_serial {
        source_settings.push(("vegas_yubikey_serial", key_serial));
    }
    let text = before.as_deref().unwrap_or("");
    let mut after = edit::set_in_profile(text, &args.source_profile, &source_settings);
    if let (Some(role_arn), Some(profile)) = (&args.role_arn, &args.profile) {
        let command = format!("{} assume --profile {profile}", own_path()?);
        after = edit::append_profile(
            &after,
            profile,
            &[
                ("credential_process", &command),
                ("vegas_source_profile", &args.source_profile),
                ("vegas_role_arn", role_arn),
            ],
        );
    }
    Ok(ConfigEdit {
        path,
        before,
        after,
    })
}

/// The full path of this vegas, quoted when it has a space (the SDKs split
/// `credential_process` as a shell would): the `vegas` found on PATH when
/// it is this very file (a symlinked install keeps working after an
/// upgrade moves the target), else the running binary's own path.
fn own_path() -> Result<String, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::NoOwnPath {
        message: e.to_string(),
    })?;
    let exe = crate::platform::find_program("vegas")
        .filter(|on_path| same_file(on_path, &exe))
        .unwrap_or(exe);
    let text = exe.display().to_string();
    Ok(if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text
    })
}

/// Whether both paths lead to the same file (symlinks followed).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_that_would_break_the_file_or_the_command_are_refused() {
        assert!(is_profile_name("work-admin"));
        assert!(is_profile_name("team/prod.admin@eu"));
        for bad in [
            "", "a b", "a]b", "[x", "a\nb", "a;b", "a#b", "a=b", "a\"b", "a'b",
        ] {
            assert!(!is_profile_name(bad), "{bad:?}");
        }
        assert!(!is_profile_name(&"p".repeat(129)));
    }

    #[test]
    fn a_symlink_is_the_same_file_as_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vegas");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, "x").unwrap();
        assert!(same_file(&link, &target));
        assert!(!same_file(&other, &target));
        assert!(!same_file(&dir.path().join("missing"), &target));
    }

    #[test]
    fn device_names_follow_iams_rule() {
        assert!(is_device_name("vegas-12345678"));
        assert!(is_device_name("a_b+c=d,e.f@g"));
        assert!(!is_device_name(""));
        assert!(!is_device_name("with space"));
        assert!(!is_device_name("slash/name"));
        assert!(!is_device_name(&"x".repeat(227)));
    }

    #[test]
    fn the_account_is_the_device_arn_when_it_fits_sixty_four_bytes() {
        let serial = "arn:aws:iam::111111111111:mfa/vegas-12345678";
        assert_eq!(account_id_for(serial, "vegas-12345678").text(), serial);
        let long_name = "n".repeat(40);
        let long = format!("arn:aws:iam::111111111111:mfa/{long_name}");
        let id = account_id_for(&long, &long_name);
        assert_eq!(id.text(), format!("AWS:{long_name}"));
        let longer = "m".repeat(100);
        assert_eq!(
            account_id_for(&format!("arn:x:{longer}"), &longer)
                .as_bytes()
                .len(),
            64
        );
    }
}
