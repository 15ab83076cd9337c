//! Every command and flag, defined once, with its help text.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "vegas", version, about = "Assume AWS IAM roles with a YubiKey touch, as a credential_process", long_about = None)]
pub struct Cli {
    /// Diagnostics on stderr (never a secret).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// No colour in output (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Never show a GUI dialog to ask for a code.
    #[arg(long, global = true)]
    pub no_gui: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print credential_process JSON for a profile, from the cache or fresh.
    Assume(AssumeArgs),
    /// Talk to the OATH application of a YubiKey.
    #[command(subcommand)]
    Oath(OathCommand),
    /// What is cached (nothing secret is shown), or drop it.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the whole chain (config, YubiKey, ykman, prompt, cache, STS)
    /// and say what is wrong and how to fix it. Exit 1 when a check fails
    /// (a warning, such as a missing fallback, does not).
    Doctor {
        /// Check only this profile (default: every vegas profile).
        #[arg(long, short = 'p')]
        profile: Option<String>,
        /// Skip the checks that need the network (STS reachable).
        #[arg(long)]
        offline: bool,
        /// Machine-readable output: [{check, level, ok, detail, fix}], level
        /// one of ok, warn, fail.
        #[arg(long)]
        json: bool,
    },
    /// Make the YubiKey an AWS MFA device and write the profile(s) into
    /// ~/.aws/config; undone on failure or Ctrl-C.
    ///
    /// Creates a virtual MFA device in IAM (default name vegas-SERIAL), puts
    /// its seed on the key (TOTP, SHA-1, 6 digits, 30 s, touch required
    /// unless --no-touch), enables it with the codes of two consecutive time
    /// steps (one touch each), shows the change to ~/.aws/config as a diff
    /// and, once confirmed (or --yes), writes it, keeping the old file beside
    /// it as config.vegas-backup-TIME. Then runs the doctor checks for the
    /// new profile.
    ///
    /// If a step fails after the device was created, or Ctrl-C is pressed
    /// (exit 130), the config file is put back, the device deactivated and
    /// deleted in IAM, and then the account deleted from the key. When IAM
    /// refuses the long-term keys (a policy that requires MFA), the device
    /// is deactivated with an MFA session from a third code; failing that,
    /// it stays enabled and its account stays on the key, so the user can
    /// still sign in; the error says what is left and how to remove it.
    /// If only the closing doctor checks fail, the device and the config are
    /// kept (exit 1): the device works, and the doctor says what to fix.
    /// The seed is never printed, logged, written to a file, or passed in
    /// arguments or the environment. AWS_ENDPOINT_URL_IAM overrides IAM's
    /// endpoint; IAM is reached in the source profile's region (else
    /// us-east-1).
    Setup(SetupArgs),
    /// Serve a profile's credentials to containers and dev containers.
    ///
    /// An HTTP endpoint on 127.0.0.1 for the AWS SDKs' container credential
    /// provider. The credentials are got as `assume` gets them, once at
    /// start (the touch happens then, before anything is printed) and again
    /// in the background 15 minutes before they expire, if a client asked
    /// since (failures back off, an unanswered touch is not asked again);
    /// requests are answered at once meanwhile. Prints the `export` lines that point a
    /// tool at it; given a command after `--`, runs it with them set, stops
    /// when it ends and exits with its status. Ctrl-C (SIGINT), SIGTERM or
    /// SIGHUP stops it.
    Serve(ServeArgs),
    /// Print a shell completion script (e.g. `vegas completions bash >
    /// /etc/bash_completion.d/vegas`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// The cached credentials: profile, role, MFA device, expiry. No secrets.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Drop cached credentials: those of one profile, or everything.
    Clean {
        /// Only this profile's credentials.
        #[arg(long, short = 'p')]
        profile: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AssumeArgs {
    /// The profile in ~/.aws/config (the one whose credential_process runs vegas).
    #[arg(long, short = 'p')]
    pub profile: String,
    /// Use this MFA code instead of asking the YubiKey; `-` reads it from
    /// the first line of stdin, so it shows in no process list.
    #[arg(long, value_name = "CODE")]
    pub token_code: Option<String>,
    /// Serve cached credentials until they really expire, instead of
    /// refreshing them in their last 10 minutes.
    #[arg(long)]
    pub disable_mandatory_refresh: bool,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The profile with the IAM user's long-term keys; its section gets
    /// mfa_serial.
    #[arg(long, value_name = "PROFILE")]
    pub source_profile: String,
    /// Also write a vegas profile (--profile) that assumes this role.
    #[arg(long, value_name = "ARN", requires = "profile")]
    pub role_arn: Option<String>,
    /// The name of the vegas profile to write (with --role-arn).
    #[arg(long, short = 'p', value_name = "PROFILE", requires = "role_arn")]
    pub profile: Option<String>,
    /// The virtual MFA device's name in IAM (default: vegas-SERIAL).
    #[arg(long, value_name = "NAME")]
    pub device_name: Option<String>,
    /// Let the key give codes without a touch (not recommended).
    #[arg(long)]
    pub no_touch: bool,
    /// Write the config change without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub key: KeySelection,
    /// Read the OATH password from the first line of stdin instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// The profile whose credentials are served (as for `vegas assume`).
    #[arg(long, short = 'p')]
    pub profile: String,
    /// Listen on this address and port instead of a free port on
    /// 127.0.0.1. An address other than loopback lets other machines ask
    /// for the credentials (they still need the token): vegas warns.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Write the token to this new file (mode 0600; an existing file is an
    /// error, never overwritten) and export
    /// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE instead of the token itself.
    /// The file is removed when vegas serve ends.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Serve credentials until they really expire, and refresh them only
    /// then, instead of 15 minutes ahead.
    #[arg(long)]
    pub disable_mandatory_refresh: bool,
    /// Run this command with the variables set, stop serving when it ends,
    /// and exit with its status.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// Which YubiKey to talk to.
#[derive(Debug, Args, Clone, Default)]
pub struct KeySelection {
    /// The YubiKey with this serial number.
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<u32>,
    /// The PC/SC reader with this name (or a unique part of it); default:
    /// the VEGAS_READER environment variable.
    #[arg(long, value_name = "NAME")]
    pub reader: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct OathAccess {
    #[command(flatten)]
    pub key: KeySelection,
    /// Read the OATH password from the first line of stdin instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OathCommand {
    /// The YubiKeys found: reader, serial, firmware, OATH password set or not.
    Keys {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The OATH accounts on the key.
    List(OathAccess),
    /// Current codes, for every account or those matching QUERY.
    Code {
        /// An account id, or a case-insensitive part of one.
        query: Option<String>,
        #[command(flatten)]
        access: OathAccess,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The resolved configuration of a profile and where each value came from.
    ShowProfile {
        profile: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_lone_dash_is_a_token_code_value() {
        let cli = Cli::try_parse_from(["vegas", "assume", "-p", "x", "--token-code", "-"]).unwrap();
        let Command::Assume(args) = cli.command else {
            panic!("not assume")
        };
        assert_eq!(args.token_code.as_deref(), Some("-"));
    }

    #[test]
    fn serve_takes_everything_after_the_double_dash_as_the_command() {
        let cli = Cli::try_parse_from([
            "vegas", "serve", "-p", "x", "--", "docker", "run", "--rm", "-p", "y",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.profile, "x");
        assert_eq!(args.command, ["docker", "run", "--rm", "-p", "y"]);
    }
}
