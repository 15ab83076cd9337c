//! A process without a kernel keyring, made the way container runtimes make
//! one: a seccomp filter that answers `keyctl`, `add_key` and
//! `request_key` with `EPERM` (Docker's default profile does exactly this),
//! everything else allowed. Nothing in vegas is told; it meets the same
//! refusal it would meet in such a container.

use std::process::Command;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Installs the filter on the calling process (and so on what it execs).
/// Async-signal-safe: fit for `pre_exec` and a forked child.
pub fn deny_keyctl_here() -> std::io::Result<()> {
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let errno = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32);
    let program = [
        stmt(load, 4), // seccomp_data.arch
        jump_if_equal(AUDIT_ARCH, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(load, 0), // seccomp_data.nr
        jump_if_equal(libc::SYS_keyctl as u32, 3, 0),
        jump_if_equal(libc::SYS_add_key as u32, 2, 0),
        jump_if_equal(libc::SYS_request_key as u32, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(libc::BPF_RET | libc::BPF_K, errno),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with a filter that lives for the whole call.
    let rc = unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            -1
        } else {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `cmd` runs without a keyring.
pub fn deny_keyctl(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls prctl (async-signal-safe).
    unsafe { cmd.pre_exec(deny_keyctl_here) }
}
