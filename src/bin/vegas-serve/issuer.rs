//! Where a request's credentials come from: the same call `vegas assume`
//! makes (cache, mandatory refresh window, device lock and second look,
//! touch notice on this terminal), one request at a time.
//!
//! The one mutex is the in-process single flight: a hundred requests on an
//! empty cache wait here while the first touches the key and calls STS; the
//! others then find the fresh row in the cache. (The flow's own device lock
//! does the same across processes, e.g. with a `vegas assume` beside us.)

use std::sync::{Mutex, PoisonError};

use vegas::commands::assume::{credentials, Request};
use vegas::ui::Terminal;

use crate::answer::Answer;

/// Issues credentials for one profile.
pub struct Issuer {
    profile: String,
    disable_mandatory_refresh: bool,
    no_gui: bool,
    one_at_a_time: Mutex<()>,
}

impl Issuer {
    pub fn new(profile: String, disable_mandatory_refresh: bool, no_gui: bool) -> Issuer {
        Issuer {
            profile,
            disable_mandatory_refresh,
            no_gui,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// Resolve the profile now, so a typo fails at start rather than at
    /// the first request.
    pub fn check(&self) -> Result<(), vegas::Error> {
        let files = vegas::config::Files::load()?;
        files.resolve(&self.profile)?;
        Ok(())
    }

    /// The answer to one authorised request. Blocking: run it off the
    /// runtime's threads. The configuration is read again each time, so an
    /// edit to ~/.aws/config is seen as by `vegas assume`.
    pub fn answer(&self) -> Answer {
        let _turn = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let request = Request {
            profile: &self.profile,
            token_code: None,
            disable_mandatory_refresh: self.disable_mandatory_refresh,
            no_gui: self.no_gui,
        };
        match credentials(request, &Terminal) {
            Ok((profile, creds)) => Answer::credentials(&creds, &profile.role_arn.value),
            Err(err) => {
                use vegas::Hint;
                // The person running `vegas serve` sees why, with the hint;
                // the client gets the one line.
                eprintln!("vegas: {err}");
                eprintln!("hint: {}", err.hint());
                Answer::flow_failed(&err)
            }
        }
    }
}
