//! Resolution: from the parsed files to a validated [`Profile`], following
//! `vegas_source_profile` down a chain of vegas profiles to the one with
//! long-term keys. Each value comes from the target profile, its source
//! profile, the environment or a default, keeps that origin, and is checked
//! by its rule in `rules.rs`; a refused value is an error naming where it is.

use super::ini::env_nonempty;
use super::rules::{
    default_session_name, is_external_id, is_http_url, is_mfa_serial, is_role_arn, is_session_name,
    number_in, parse_bool, DEFAULT_DURATION, DEFAULT_MFA_SESSION_DURATION, DEFAULT_MFA_TIMEOUT,
    DEFAULT_REGION, MAX_DURATION, MAX_MFA_SESSION_DURATION, MAX_MFA_TIMEOUT, MIN_DURATION,
    MIN_MFA_SESSION_DURATION,
};
use super::{Backend, Error, Files, Origin, Profile, Sourced};

impl Files {
    /// Resolve and validate profile `name` as a vegas profile. When its
    /// `vegas_source_profile` is itself a vegas profile (one with
    /// `vegas_role_arn`), that profile is resolved too, and so on down the
    /// chain to the profile with long-term keys; a loop is an error.
    pub fn resolve(&self, name: &str) -> Result<Profile, Error> {
        self.resolve_in_chain(name, &[])
    }

    /// Whether `profile` is a vegas profile (and so, as a source, a chain hop).
    pub fn is_vegas_profile(&self, profile: &str) -> bool {
        self.get(profile, "vegas_role_arn").is_some()
    }

    /// `above` are the profiles already being resolved that lead here, the
    /// target first: meeting one of them again is a loop.
    fn resolve_in_chain(&self, name: &str, above: &[String]) -> Result<Profile, Error> {
        if let Some(start) = above.iter().position(|p| p == name) {
            let mut profiles: Vec<String> = above.iter().skip(start).cloned().collect();
            profiles.push(name.to_string());
            return Err(Error::SourceLoop {
                path: self.config_path.clone(),
                profiles,
            });
        }
        if !self.has_profile(name) {
            return Err(Error::MissingProfile {
                path: self.config_path.clone(),
                profile: name.into(),
            });
        }
        let role_arn = self.required(name, "vegas_role_arn")?;
        let role_arn = self.check(role_arn, "not an IAM role ARN", |v| {
            is_role_arn(v).then(|| v.to_owned())
        })?;
        let source_profile = self.required(name, "vegas_source_profile")?;
        let via = self.hop_below(name, &source_profile.value, above)?;
        // The MFA belongs to the first hop of a chain: a chained profile
        // takes the device and everything about it from there.
        let mfa = match &via {
            Some(first) => MfaSettings::of(first),
            None => self.mfa_settings(name, &source_profile.value)?,
        };
        let role = self.role_settings(name, &source_profile.value, via.as_deref())?;
        Ok(Profile {
            name: name.into(),
            role_arn,
            source_profile,
            via,
            mfa_serial: mfa.mfa_serial,
            duration_seconds: role.duration_seconds,
            role_session_name: role.role_session_name,
            external_id: role.external_id,
            region: role.region,
            endpoint_url: role.endpoint_url,
            yubikey_serial: mfa.yubikey_serial,
            yubikey_label: mfa.yubikey_label,
            yubikey_backend: mfa.yubikey_backend,
            mfa_timeout: mfa.mfa_timeout,
            mfa_session: mfa.mfa_session,
            mfa_session_duration: mfa.mfa_session_duration,
        })
    }

    /// The vegas profile `name`'s source profile is, resolved (a chain hop),
    /// or `None` when the source is the profile with long-term keys.
    fn hop_below(
        &self,
        name: &str,
        source: &str,
        above: &[String],
    ) -> Result<Option<Box<Profile>>, Error> {
        if source == name {
            return Err(Error::SelfSource {
                path: self.config_path.clone(),
                profile: name.into(),
            });
        }
        if self.is_vegas_profile(source) {
            let mut chain = above.to_vec();
            chain.push(name.to_string());
            return Ok(Some(Box::new(self.resolve_in_chain(source, &chain)?)));
        }
        if !self.has_profile(source) && !self.has_credentials(source) {
            return Err(Error::MissingSourceProfile {
                path: self.config_path.clone(),
                profile: name.into(),
                source_profile: source.into(),
                credentials: self.credentials_path.clone(),
            });
        }
        Ok(None)
    }

    /// What each hop sets for its own AssumeRole; region and endpoint are
    /// inherited from the hop below when this one does not set them.
    fn role_settings(
        &self,
        name: &str,
        source: &str,
        below: Option<&Profile>,
    ) -> Result<RoleSettings, Error> {
        let duration_seconds = self
            .optional(
                self.sourced(name, "duration_seconds"),
                "out of range 900–43200",
                |v| number_in(v, MIN_DURATION..=MAX_DURATION),
            )?
            .unwrap_or_else(|| defaulted(DEFAULT_DURATION, "one hour"));
        let role_session_name = self
            .optional(
                self.sourced(name, "role_session_name"),
                "must be 2–64 of [A-Za-z0-9+=,.@_-]",
                |v| is_session_name(v).then(|| v.to_owned()),
            )?
            .unwrap_or_else(|| defaulted(default_session_name(), "login name"));
        let external_id = self.optional(
            self.sourced(name, "external_id"),
            "must be 2–1224 of [A-Za-z0-9+=,.@:/_-]",
            |v| is_external_id(v).then(|| v.to_owned()),
        )?;
        let region = self
            .sourced_either(name, source, "region")
            .or_else(|| below.map(|b| b.region.clone()))
            .or_else(|| env_sourced("AWS_REGION"))
            .or_else(|| env_sourced("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| defaulted(DEFAULT_REGION.into(), "no region set"));
        let endpoint_url = env_sourced("AWS_ENDPOINT_URL_STS")
            .or_else(|| env_sourced("AWS_ENDPOINT_URL"))
            .or_else(|| self.sourced(name, "endpoint_url"));
        let endpoint_url = match self.optional(endpoint_url, "not an http(s) URL", |v| {
            is_http_url(v).then(|| v.to_owned())
        })? {
            Some(url) => Some(url),
            None => below.and_then(|b| b.endpoint_url.clone()),
        };
        Ok(RoleSettings {
            duration_seconds,
            role_session_name,
            external_id,
            region,
            endpoint_url,
        })
    }

    /// The MFA device of a first hop and how to reach it: from the profile,
    /// else from its source profile (the one with the long-term keys).
    fn mfa_settings(&self, name: &str, source: &str) -> Result<MfaSettings, Error> {
        let either = |key| self.sourced_either(name, source, key);
        let mfa_serial = either("mfa_serial").ok_or_else(|| self.missing(source, "mfa_serial"))?;
        let mfa_serial = self.check(mfa_serial, "not an MFA device ARN", |v| {
            is_mfa_serial(v).then(|| v.to_owned())
        })?;
        let yubikey_serial =
            self.optional(either("vegas_yubikey_serial"), "not a serial number", |v| {
                v.parse::<u32>().ok()
            })?;
        let yubikey_label = either("vegas_yubikey_label")
            .unwrap_or_else(|| defaulted(mfa_serial.value.clone(), "mfa_serial"));
        // The environment overrides the files for the backend.
        let yubikey_backend = self
            .optional(
                env_sourced("VEGAS_YUBIKEY_BACKEND").or_else(|| either("vegas_yubikey_backend")),
                "not one of auto, pcsc, ykman, none",
                Backend::parse,
            )?
            .unwrap_or_else(|| defaulted(Backend::Auto, "auto"));
        let mfa_timeout = self
            .optional(
                either("vegas_mfa_timeout"),
                "not a number of seconds from 1 to 3600",
                |v| number_in(v, 1..=MAX_MFA_TIMEOUT),
            )?
            .unwrap_or_else(|| defaulted(DEFAULT_MFA_TIMEOUT, "one minute"));
        let mfa_session = self
            .optional(either("vegas_mfa_session"), "not true or false", parse_bool)?
            .unwrap_or_else(|| defaulted(false, "a touch per role"));
        let mfa_session_duration = self
            .optional(
                either("vegas_mfa_session_duration"),
                "out of range 900–129600",
                |v| number_in(v, MIN_MFA_SESSION_DURATION..=MAX_MFA_SESSION_DURATION),
            )?
            .unwrap_or_else(|| defaulted(DEFAULT_MFA_SESSION_DURATION, "12 hours"));
        Ok(MfaSettings {
            mfa_serial,
            yubikey_serial,
            yubikey_label,
            yubikey_backend,
            mfa_timeout,
            mfa_session,
            mfa_session_duration,
        })
    }

    fn sourced(&self, profile: &str, key: &'static str) -> Option<Sourced<String>> {
        self.get(profile, key).map(|v| Sourced {
            value: v.to_string(),
            origin: Origin::File {
                path: self.config_path.clone(),
                profile: profile.into(),
                key,
            },
        })
    }

    /// A key from the target profile, else the source profile.
    fn sourced_either(
        &self,
        target: &str,
        source: &str,
        key: &'static str,
    ) -> Option<Sourced<String>> {
        self.sourced(target, key)
            .or_else(|| self.sourced(source, key))
    }

    /// A key that must be in `profile` itself.
    fn required(&self, profile: &str, key: &'static str) -> Result<Sourced<String>, Error> {
        self.sourced(profile, key)
            .ok_or_else(|| self.missing(profile, key))
    }

    fn missing(&self, profile: &str, key: &'static str) -> Error {
        Error::MissingKey {
            path: self.config_path.clone(),
            profile: profile.into(),
            key,
        }
    }

    /// The value of `s` that `rule` makes of its text, with the same origin;
    /// an error saying `why` where the rule refuses it.
    fn check<T>(
        &self,
        s: Sourced<String>,
        why: &'static str,
        rule: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Sourced<T>, Error> {
        match rule(&s.value) {
            Some(value) => Ok(Sourced {
                value,
                origin: s.origin,
            }),
            None => Err(self.invalid(s, why)),
        }
    }

    /// [`Files::check`] of a value that may be absent.
    fn optional<T>(
        &self,
        s: Option<Sourced<String>>,
        why: &'static str,
        rule: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<Sourced<T>>, Error> {
        s.map(|s| self.check(s, why, rule)).transpose()
    }

    /// A refused value, named by where it came from: a key of a profile, or
    /// an environment variable.
    fn invalid(&self, s: Sourced<String>, why: &'static str) -> Error {
        match s.origin {
            Origin::Env(var) => Error::InvalidEnv {
                var,
                value: s.value,
                why,
            },
            Origin::File { profile, key, .. } => Error::Invalid {
                path: self.config_path.clone(),
                profile,
                key,
                value: s.value,
                why,
            },
            // vegas's own defaults pass their rules; kept total all the same.
            Origin::Default(_) => Error::Invalid {
                path: self.config_path.clone(),
                profile: String::new(),
                key: "",
                value: s.value,
                why,
            },
        }
    }
}

/// vegas's own default, and why it is the default.
fn defaulted<T>(value: T, why: &'static str) -> Sourced<T> {
    Sourced {
        value,
        origin: Origin::Default(why),
    }
}

fn env_sourced(var: &'static str) -> Option<Sourced<String>> {
    env_nonempty(var).map(|value| Sourced {
        value: value.trim().to_string(),
        origin: Origin::Env(var),
    })
}

/// What one hop sets for its own AssumeRole.
struct RoleSettings {
    duration_seconds: Sourced<u32>,
    role_session_name: Sourced<String>,
    external_id: Option<Sourced<String>>,
    region: Sourced<String>,
    endpoint_url: Option<Sourced<String>>,
}

/// Everything about the MFA device of a first hop, which a chained profile
/// shares with the first hop of its chain.
struct MfaSettings {
    mfa_serial: Sourced<String>,
    yubikey_serial: Option<Sourced<u32>>,
    yubikey_label: Sourced<String>,
    yubikey_backend: Sourced<Backend>,
    mfa_timeout: Sourced<u64>,
    mfa_session: Sourced<bool>,
    mfa_session_duration: Sourced<u32>,
}

impl MfaSettings {
    fn of(profile: &Profile) -> MfaSettings {
        MfaSettings {
            mfa_serial: profile.mfa_serial.clone(),
            yubikey_serial: profile.yubikey_serial.clone(),
            yubikey_label: profile.yubikey_label.clone(),
            yubikey_backend: profile.yubikey_backend.clone(),
            mfa_timeout: profile.mfa_timeout.clone(),
            mfa_session: profile.mfa_session.clone(),
            mfa_session_duration: profile.mfa_session_duration.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{files, CONFIG};

    #[test]
    fn resolves_target_and_source_keys_with_origins() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert_eq!(p.role_arn.value, "arn:aws:iam::222222222222:role/Admin");
        assert_eq!(p.mfa_serial.value, "arn:aws:iam::111111111111:mfa/alice");
        assert!(
            matches!(&p.mfa_serial.origin, Origin::File { profile, .. } if profile == "work-source")
        );
        assert_eq!(p.duration_seconds.value, 7200);
        assert_eq!(
            p.yubikey_serial.as_ref().unwrap().value,
            12_345_678,
            "inline comment stripped"
        );
        assert_eq!(
            p.yubikey_label.value, p.mfa_serial.value,
            "label defaults to mfa_serial"
        );
        assert_eq!(p.yubikey_label.origin, Origin::Default("mfa_serial"));
        assert_eq!(p.region.value, "eu-west-1");
        assert_eq!(p.external_id.unwrap().value, "abc-123");
    }

    fn err_of(config: &str, profile: &str) -> Error {
        files(config).resolve(profile).unwrap_err()
    }

    /// Lines of [`CONFIG`] after which a test adds a setting to the source
    /// profile or to the target profile.
    const SOURCE_LINE: &str = "region = eu-west-1";
    const TARGET_LINE: &str = "external_id = abc-123";

    #[test]
    fn each_invalid_configuration_names_profile_and_key() {
        let e = err_of(CONFIG, "nope");
        assert!(
            matches!(e, Error::MissingProfile { ref profile, .. } if profile == "nope"),
            "{e}"
        );

        let e = err_of(
            &CONFIG.replace("vegas_role_arn", "x_role_arn"),
            "work-admin",
        );
        assert!(
            matches!(e, Error::MissingKey { key: "vegas_role_arn", ref profile, .. } if profile == "work-admin"),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("'vegas_role_arn'") && text.contains("'work-admin'"),
            "{text}"
        );

        let e = err_of(&CONFIG.replace("mfa_serial = ", "x_mfa = "), "work-admin");
        assert!(
            matches!(e, Error::MissingKey { key: "mfa_serial", ref profile, .. } if profile == "work-source"),
            "{e}"
        );

        let e = err_of(
            &CONFIG.replace(
                "vegas_source_profile = work-source",
                "vegas_source_profile = gone",
            ),
            "work-admin",
        );
        assert!(
            matches!(e, Error::MissingSourceProfile { ref source_profile, .. } if source_profile == "gone"),
            "{e}"
        );

        for (from, to, profile, key) in [
            ("role/Admin", "user/Admin", "work-admin", "vegas_role_arn"),
            (":mfa/alice", ":user/alice", "work-source", "mfa_serial"),
            ("7200", "60", "work-admin", "duration_seconds"),
            ("7200", "50000", "work-admin", "duration_seconds"),
            ("= alice", "= a", "work-admin", "role_session_name"),
            ("abc-123", "a", "work-admin", "external_id"),
            ("12345678 ", "12ab ", "work-source", "vegas_yubikey_serial"),
            (
                SOURCE_LINE,
                "vegas_yubikey_backend = usb",
                "work-source",
                "vegas_yubikey_backend",
            ),
            (
                SOURCE_LINE,
                "vegas_mfa_timeout = 0",
                "work-source",
                "vegas_mfa_timeout",
            ),
            (
                SOURCE_LINE,
                "vegas_mfa_session = yes",
                "work-source",
                "vegas_mfa_session",
            ),
            (
                SOURCE_LINE,
                "vegas_mfa_session_duration = 1",
                "work-source",
                "vegas_mfa_session_duration",
            ),
            (
                TARGET_LINE,
                "endpoint_url = sts.example",
                "work-admin",
                "endpoint_url",
            ),
        ] {
            let to = match from {
                SOURCE_LINE | TARGET_LINE => format!("{from}\n{to}"),
                _ => to.to_owned(),
            };
            let e = err_of(&CONFIG.replace(from, &to), "work-admin");
            assert!(
                matches!(&e, Error::Invalid { profile: p, key: k, .. } if p == profile && *k == key),
                "{from} → {to}: {e:?}"
            );
            let text = e.to_string();
            assert!(
                text.contains(key) && text.contains(&format!("'{profile}'")),
                "{text}"
            );
            let hint = crate::hint::Hint::hint(&e);
            assert!(
                !hint.starts_with("fix "),
                "{key} has only the catch-all hint: {hint}"
            );
        }
    }

    #[test]
    fn a_refused_environment_value_names_the_variable_not_a_profile() {
        let value = Sourced {
            value: "ftp://sts".to_string(),
            origin: Origin::Env("AWS_ENDPOINT_URL_STS"),
        };
        let e = files(CONFIG).invalid(value, "not an http(s) URL");
        assert!(
            matches!(e, Error::InvalidEnv { var: "AWS_ENDPOINT_URL_STS", ref value, .. } if value == "ftp://sts"),
            "{e:?}"
        );
    }

    #[test]
    fn identity_fields_change_with_every_value_that_changes_sts_output() {
        let a = files(CONFIG)
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        let b = files(&CONFIG.replace("7200", "3600"))
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        let c = files(&CONFIG.replace("abc-123", "abc-124"))
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn mfa_timeout_defaults_to_a_minute_and_is_read_from_the_source_profile() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert_eq!(p.mfa_timeout.value, DEFAULT_MFA_TIMEOUT);
        let config = CONFIG.replace(
            "region = eu-west-1",
            "region = eu-west-1\nvegas_mfa_timeout = 15",
        );
        let p = files(&config).resolve("work-admin").unwrap();
        assert_eq!(p.mfa_timeout.value, 15);
        assert!(matches!(
            p.mfa_timeout.origin,
            Origin::File { ref profile, key: "vegas_mfa_timeout", .. } if profile == "work-source"
        ));
    }

    #[test]
    fn mfa_timeout_must_be_one_second_to_an_hour() {
        for bad in ["0", "3601", "-5", "1m", ""] {
            let config = CONFIG.replace(
                "region = eu-west-1",
                &format!("region = eu-west-1\nvegas_mfa_timeout = {bad}"),
            );
            match files(&config).resolve("work-admin") {
                Err(Error::Invalid { key, .. }) => assert_eq!(key, "vegas_mfa_timeout", "{bad:?}"),
                Ok(p) if bad.is_empty() => assert_eq!(p.mfa_timeout.value, DEFAULT_MFA_TIMEOUT),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    const CHAIN: &str = "\
[profile work-source]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_yubikey_label = AWS:alice
region = eu-west-1

[profile hop1]
vegas_source_profile = work-source
vegas_role_arn = arn:aws:iam::222222222222:role/Hop1
duration_seconds = 7200

[profile hop2]
vegas_source_profile = hop1
vegas_role_arn = arn:aws:iam::333333333333:role/Hop2

[profile hop3]
vegas_source_profile = hop2
vegas_role_arn = arn:aws:iam::444444444444:role/Hop3
duration_seconds = 7200
";

    #[test]
    fn a_chain_resolves_to_any_depth_with_the_mfa_of_its_first_hop() {
        let p = files(CHAIN).resolve("hop3").unwrap();
        assert_eq!(p.chain_names(), ["hop3", "hop2", "hop1", "work-source"]);
        assert!(p.is_chained());
        assert_eq!(p.first_hop().name, "hop1");
        assert!(!p.first_hop().is_chained());
        assert_eq!(p.long_term_source().value, "work-source");
        assert_eq!(p.source_profile.value, "hop2", "as written");
        assert_eq!(p.mfa_serial.value, "arn:aws:iam::111111111111:mfa/alice");
        assert_eq!(p.yubikey_label.value, "AWS:alice");
        assert_eq!(p.region.value, "eu-west-1", "inherited down the chain");
        assert_eq!(
            p.duration_seconds.value, 7200,
            "kept as written; assume clamps"
        );
    }

    #[test]
    fn a_chained_profile_key_changes_when_a_hop_below_changes() {
        let a = files(CHAIN).resolve("hop3").unwrap().identity_fields();
        let b = files(&CHAIN.replace("role/Hop1", "role/Hop1b"))
            .resolve("hop3")
            .unwrap()
            .identity_fields();
        assert_ne!(a, b);
        let plain = files(CHAIN).resolve("hop1").unwrap().identity_fields();
        assert!(
            plain.iter().all(|(k, _)| *k != "via"),
            "a first hop keeps its old key"
        );
    }

    #[test]
    fn a_loop_of_two_profiles_is_an_error_naming_both() {
        let config = CHAIN.replace(
            "vegas_source_profile = work-source",
            "vegas_source_profile = hop2",
        );
        let e = err_of(&config, "hop2");
        match &e {
            Error::SourceLoop { profiles, .. } => assert_eq!(profiles, &["hop2", "hop1", "hop2"]),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains("'hop1'") && text.contains("'hop2'"), "{text}");
        // Entered from outside the loop, only the loop is named.
        match err_of(&config, "hop3") {
            Error::SourceLoop { profiles, .. } => assert_eq!(profiles, ["hop2", "hop1", "hop2"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_in_a_hop_below_names_that_hop() {
        let config = CHAIN.replace("role/Hop1", "user/Hop1");
        let e = err_of(&config, "hop3");
        assert!(
            matches!(&e, Error::Invalid { profile, key: "vegas_role_arn", .. } if profile == "hop1"),
            "{e}"
        );
    }

    #[test]
    fn mfa_session_is_off_by_default_and_lasts_twelve_hours() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert!(!p.mfa_session.value);
        assert_eq!(p.mfa_session_duration.value, DEFAULT_MFA_SESSION_DURATION);
        let config = CONFIG.replace(
            "region = eu-west-1",
            "region = eu-west-1\nvegas_mfa_session = TRUE\nvegas_mfa_session_duration = 129600",
        );
        let p = files(&config).resolve("work-admin").unwrap();
        assert!(p.mfa_session.value);
        assert_eq!(p.mfa_session_duration.value, 129_600);
        assert!(matches!(
            p.mfa_session.origin,
            Origin::File { ref profile, key: "vegas_mfa_session", .. } if profile == "work-source"
        ));
    }

    #[test]
    fn mfa_session_settings_are_validated() {
        for (key, bad) in [
            ("vegas_mfa_session", "yes"),
            ("vegas_mfa_session_duration", "899"),
            ("vegas_mfa_session_duration", "129601"),
            ("vegas_mfa_session_duration", "12h"),
        ] {
            let config = CONFIG.replace(
                "region = eu-west-1",
                &format!("region = eu-west-1\n{key} = {bad}"),
            );
            match files(&config).resolve("work-admin") {
                Err(e @ Error::Invalid { .. }) => {
                    assert!(
                        matches!(e, Error::Invalid { key: k, .. } if k == key),
                        "{e}"
                    );
                    assert!(!crate::hint::Hint::hint(&e).is_empty());
                }
                other => panic!("{key} = {bad}: {other:?}"),
            }
        }
    }
}
