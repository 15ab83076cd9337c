//! Time, injected: the flow asks a [`Clock`] for the time and to wait, so
//! its unit tests can run a refresh window's edge or a 30-second step wait
//! without sleeping.

use std::time::{Duration, SystemTime};

/// Where the flow gets the time from, and how it waits.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Block for `duration` (a wait for a fresh TOTP step).
    fn sleep(&self, duration: Duration);

    /// [`Clock::now`] in unix seconds.
    fn unix_now(&self) -> i64 {
        crate::platform::unix_seconds_signed(self.now())
    }
}

/// The wall clock and a real sleep.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
