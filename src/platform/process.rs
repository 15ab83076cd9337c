//! What the process does to itself before anything else: no core dumps and
//! no ptrace by other processes of the user, so a crash never writes the
//! secrets vegas holds (credentials, MFA codes, OATH keys) into whatever
//! directory the AWS tool runs in, and another program running as you cannot
//! read them out of memory; and diagnostics that carry vegas's own events
//! only, never those of the AWS SDK (whose debug log names the long-term
//! access key id).

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Called first thing by both binaries. Best effort: a refusal leaves the
/// process as it was, and there is nobody to tell yet.
pub fn harden_process() {
    #[cfg(unix)]
    no_core_dumps();
    #[cfg(target_os = "linux")]
    not_dumpable();
}

/// `RLIMIT_CORE` 0, hard and soft: a crash writes no core file.
#[cfg(unix)]
fn no_core_dumps() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
}

/// `PR_SET_DUMPABLE` 0: no core file in the working directory,
/// `/proc/PID/mem` and friends belong to root, and other processes of the
/// user cannot ptrace this one. (With `fs.suid_dumpable = 2` and a core
/// pattern that pipes to a program, such as Ubuntu's apport, the kernel
/// still hands a crash of a non-dumpable process to that root-owned
/// program.) Children get it back when they exec, as they should.
#[cfg(target_os = "linux")]
fn not_dumpable() {
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// The `--verbose` filter of both binaries: vegas's own events (the `vegas`
/// library and binaries, `vegas_sts`) up to DEBUG, and nothing from other
/// crates. The AWS SDK, hyper and rustls log requests, credentials
/// providers and signing at DEBUG, including the long-term access key id.
pub fn diagnostics_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::OFF)
        .with_target("vegas", LevelFilter::DEBUG)
        .with_target("vegas_sts", LevelFilter::DEBUG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_keep_vegas_events_and_drop_the_sdks() {
        let filter = diagnostics_filter();
        let debug = tracing::Level::DEBUG;
        assert!(filter.would_enable("vegas::flow", &debug));
        assert!(filter.would_enable("vegas_sts", &debug));
        for sdk in [
            "aws_config::profile",
            "aws_sigv4::http_request::sign",
            "aws_smithy_runtime::client::orchestrator",
            "hyper_util::client",
            "rustls::client",
        ] {
            assert!(!filter.would_enable(sdk, &debug), "{sdk}");
            assert!(!filter.would_enable(sdk, &tracing::Level::ERROR), "{sdk}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_hardened_process_has_no_core_limit_and_is_not_dumpable() {
        // Run in a child so the test process keeps its own settings.
        // SAFETY: fork in a test; the child only calls async-signal-safe
        // functions (setrlimit, prctl, getrlimit, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            harden_process();
            let mut limit = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 1,
            };
            // SAFETY: getrlimit writes into the struct we own.
            let ok = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } == 0
                && limit.rlim_cur == 0
                && limit.rlim_max == 0
                // SAFETY: a plain query.
                && unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } == 0;
            // SAFETY: leave the child without running the test harness's atexit.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
