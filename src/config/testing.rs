//! Sample config files shared by the config module's unit tests.

use super::Files;

pub(super) const CONFIG: &str = "\
[profile work-source]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_yubikey_serial = 12345678          # which key
region = eu-west-1

[profile work-admin]
credential_process = vegas assume --profile work-admin
vegas_source_profile = work-source
vegas_role_arn = arn:aws:iam::222222222222:role/Admin
duration_seconds = 7200
role_session_name = alice
external_id = abc-123
s3 =
  max_concurrent_requests = 10
";

pub(super) fn files(config: &str) -> Files {
    Files::from_strs(config, Some("[work-source]\naws_access_key_id = AKIA\n")).unwrap()
}
