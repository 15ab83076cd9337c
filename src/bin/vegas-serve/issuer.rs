//! Where a request's credentials come from, and when they are fetched.
//!
//! The AWS SDKs give a credential endpoint a second or two, so a touch must
//! not happen inside a request when it can be helped: the first credentials
//! are fetched at start (where the person is looking), and later ones by
//! [`Issuer::refresh_ahead`] in the background, ahead of the clients' own
//! refresh windows. Meanwhile every request is answered at once with the
//! credentials held, as long as they are valid.
//!
//! The background refresh runs only for clients that are there: it fetches
//! only if a request was answered since the last fetch, so credentials nobody
//! asks for cost no touch and no TOTP step. After a failed try it backs off
//! (30 s, 60 s, … up to 15 minutes); a touch nobody gave is not asked again
//! in the background; and once the credentials held have expired it stops,
//! leaving the fetch to the next request.
//!
//! A fetch is a single flight in this process: a request that finds no valid
//! credentials starts one, or joins the one under way, and every waiter gets
//! that one outcome, a failure included (a hundred requests during a touch
//! that times out cost one touch, not a hundred). A client that has gone is
//! no longer waited for, and starts nothing. Across processes (a `vegas
//! assume` beside us) the flow's own device lock does the same.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::StatusCode;
use tokio::sync::{watch, Notify};

use crate::answer::Answer;

/// Fetched credentials with less than this left are refreshed: more than
/// the SDKs' own advisory windows (botocore 15 min, the JS SDK 5 min), so
/// they never see credentials they would want to refresh.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(15 * 60);
/// After a failed background refresh, the next try waits this long,
/// doubled after each further failure up to [`RETRY_AFTER_MAX`].
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(15 * 60);
/// Never refresh sooner than this after the last fetch (no busy loop with
/// short-lived credentials).
const MIN_GAP: i64 = 5;

/// Fetching credentials, once: blocking (it may wait for a touch).
pub trait Fetch: Send + Sync + 'static {
    fn fetch(&self) -> Outcome;
}

/// The outcome of one fetch, shared by everyone who waited for it.
#[derive(Clone)]
pub struct Outcome {
    pub answer: Arc<Answer>,
    /// When the credentials expire; `None` for a failure.
    pub expires_at: Option<i64>,
    /// The failure was a touch (or dialog) nobody answered: not asked
    /// again in the background.
    pub unanswered: bool,
}

impl Outcome {
    pub fn failed(answer: Answer) -> Outcome {
        Outcome {
            answer: Arc::new(answer),
            expires_at: None,
            unanswered: false,
        }
    }

    /// A failure because nobody touched the key or answered the dialog.
    pub fn unanswered(answer: Answer) -> Outcome {
        Outcome {
            unanswered: true,
            ..Outcome::failed(answer)
        }
    }
}

/// Credentials held, and when they were fetched.
struct Held {
    answer: Arc<Answer>,
    fetched_at: i64,
    expires_at: i64,
}

/// What the background refresh goes by, besides the credentials held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Demand {
    /// A request was answered since the last fetch.
    asked: bool,
    /// Background refreshes failed in a row.
    failures: u32,
    /// No background try before this (after a failure).
    not_before: Option<i64>,
}

/// The background refresh's next step.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Fetch,
    /// Plan again in this many seconds.
    Sleep(i64),
    /// Plan again when a request has been answered.
    AwaitRequest,
}

#[derive(Default)]
struct State {
    held: Option<Held>,
    demand: Demand,
    /// The fetch under way: its outcome is sent here once.
    flight: Option<watch::Receiver<Option<Outcome>>>,
}

/// Issues credentials for one profile.
pub struct Issuer {
    source: Arc<dyn Fetch>,
    /// `--disable-mandatory-refresh`: refresh only at expiry.
    at_expiry: bool,
    state: Mutex<State>,
    /// Told on each request answered (wakes [`Step::AwaitRequest`]).
    requested: Notify,
}

impl Issuer {
    pub fn new(source: Arc<dyn Fetch>, at_expiry: bool) -> Arc<Issuer> {
        Arc::new(Issuer {
            source,
            at_expiry,
            state: Mutex::new(State::default()),
            requested: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hold `answer`, credentials that expire at `expires_at` (the first,
    /// fetched at start).
    pub fn hold(&self, answer: Answer, expires_at: i64) {
        self.state().held = Some(Held {
            answer: Arc::new(answer),
            fetched_at: vegas::platform::unix_now(),
            expires_at,
        });
    }

    /// The answer to one authorised request: the credentials held while
    /// they are valid, else the outcome of a fetch (started or joined).
    pub async fn answer(self: &Arc<Self>) -> Arc<Answer> {
        let now = vegas::platform::unix_now();
        let flight = {
            let mut state = self.state();
            state.demand.asked = true;
            self.requested.notify_one();
            if let Some(held) = state.held.as_ref().filter(|h| h.expires_at > now) {
                return held.answer.clone();
            }
            self.join_or_start(&mut state)
        };
        wait(flight).await.answer
    }

    /// Fetch now (joining a fetch under way), whatever is held.
    pub async fn fetch_now(self: &Arc<Self>) -> Outcome {
        let flight = self.join_or_start(&mut self.state());
        wait(flight).await
    }

    fn join_or_start(self: &Arc<Self>, state: &mut State) -> watch::Receiver<Option<Outcome>> {
        if let Some(flight) = &state.flight {
            return flight.clone();
        }
        let (done, flight) = watch::channel(None);
        state.flight = Some(flight.clone());
        let issuer = self.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = issuer.source.fetch();
            let mut state = issuer.state();
            if let Some(expires_at) = outcome.expires_at {
                state.held = Some(Held {
                    answer: outcome.answer.clone(),
                    fetched_at: vegas::platform::unix_now(),
                    expires_at,
                });
                state.demand = Demand::default();
            }
            state.flight = None;
            drop(state);
            let _ = done.send(Some(outcome));
        });
        flight
    }

    /// Refresh the credentials held in the background, ahead of their
    /// expiry, while clients ask for them, for as long as the server runs.
    pub async fn refresh_ahead(self: Arc<Self>) {
        loop {
            let step = {
                let mut state = self.state();
                let step = self.plan(&state, vegas::platform::unix_now());
                if step == Step::Fetch {
                    state.demand.asked = false;
                }
                step
            };
            match step {
                Step::Sleep(s) => tokio::time::sleep(Duration::from_secs(s.unsigned_abs())).await,
                Step::AwaitRequest => self.requested.notified().await,
                Step::Fetch => {
                    tracing::debug!("refreshing the credentials served, ahead of their expiry");
                    let outcome = self.fetch_now().await;
                    let mut state = self.state();
                    let expires_at = state.held.as_ref().map_or(0, |h| h.expires_at);
                    state.demand = failed(
                        state.demand,
                        &outcome,
                        expires_at,
                        vegas::platform::unix_now(),
                    );
                }
            }
        }
    }

    fn plan(&self, state: &State, now: i64) -> Step {
        let held = state.held.as_ref().map(|h| (h.fetched_at, h.expires_at));
        plan(held, state.demand, self.at_expiry, now)
    }
}

/// The background refresh's next step at `now`, given the credentials held
/// (when fetched, when they expire) and the clients' demand.
fn plan(held: Option<(i64, i64)>, demand: Demand, at_expiry: bool, now: i64) -> Step {
    let Some((fetched_at, expires_at)) = held.filter(|&(_, expires_at)| expires_at > now) else {
        // Nothing valid to refresh: the next request fetches.
        return Step::AwaitRequest;
    };
    let not_before = due(fetched_at, expires_at, at_expiry).max(demand.not_before.unwrap_or(0));
    if not_before > now {
        Step::Sleep(not_before - now)
    } else if !demand.asked {
        Step::AwaitRequest
    } else {
        Step::Fetch
    }
}

/// `demand` after a background fetch with `outcome` at `now`: a success
/// has already reset it; a failure backs off, and an unanswered touch is
/// not asked again before the credentials held expire at `expires_at`.
fn failed(demand: Demand, outcome: &Outcome, expires_at: i64, now: i64) -> Demand {
    if outcome.expires_at.is_some() {
        return demand;
    }
    let failures = demand.failures.saturating_add(1);
    let not_before = if outcome.unanswered {
        expires_at
    } else {
        now.saturating_add(backoff(failures).as_secs() as i64)
    };
    Demand {
        failures,
        not_before: Some(not_before),
        ..demand
    }
}

/// The wait after `failures` background failures in a row: 30 s, 60 s, …,
/// at most 15 minutes.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_AFTER
        .saturating_mul(1 << doublings)
        .min(RETRY_AFTER_MAX)
}

/// When credentials fetched at `fetched_at` are due for their refresh: 15
/// minutes before they expire (at expiry with `--disable-mandatory-refresh`),
/// but no later than the mandatory window and not at once after a fetch.
fn due(fetched_at: i64, expires_at: i64, at_expiry: bool) -> i64 {
    let due = if at_expiry {
        expires_at
    } else {
        let ahead = expires_at - REFRESH_AHEAD.as_secs() as i64;
        let mandatory = expires_at - vegas::flow::MANDATORY_REFRESH.as_secs() as i64;
        let halfway = fetched_at + (expires_at - fetched_at) / 2;
        ahead.max(halfway.min(mandatory))
    };
    due.max(fetched_at + MIN_GAP)
}

/// The outcome `flight` sends; a fetch that panicked is an internal error.
async fn wait(mut flight: watch::Receiver<Option<Outcome>>) -> Outcome {
    match flight.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(lost),
        Err(_) => lost(),
    }
}

fn lost() -> Outcome {
    Outcome::failed(Answer::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "VegasError",
        "fetching the credentials failed unexpectedly; the next request tries again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its fetches; each takes `takes` and fails, or succeeds with
    /// credentials that expire `lasts` seconds on.
    struct Counted {
        fetches: AtomicUsize,
        takes: Duration,
        lasts: Option<i64>,
    }

    impl Fetch for Counted {
        fn fetch(&self) -> Outcome {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.takes);
            match self.lasts {
                Some(lasts) => Outcome {
                    answer: Arc::new(Answer::error(StatusCode::OK, "Keys", &n.to_string())),
                    expires_at: Some(vegas::platform::unix_now() + lasts),
                    unanswered: false,
                },
                None => Outcome::failed(Answer::error(
                    StatusCode::BAD_GATEWAY,
                    "StsError",
                    &format!("access denied ({n})"),
                )),
            }
        }
    }

    fn counted(takes_ms: u64, lasts: Option<i64>) -> Arc<Counted> {
        Arc::new(Counted {
            fetches: AtomicUsize::new(0),
            takes: Duration::from_millis(takes_ms),
            lasts,
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn ten_concurrent_requests_during_a_failing_fetch_share_its_one_failure() {
        let source = counted(300, None);
        let issuer = Issuer::new(source.clone(), false);
        let answers = runtime().block_on(async {
            let requests = (0..10).map(|_| {
                let issuer = issuer.clone();
                tokio::spawn(async move { issuer.answer().await })
            });
            let mut answers = Vec::new();
            for request in requests.collect::<Vec<_>>() {
                answers.push(request.await.unwrap());
            }
            answers
        });
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        for answer in &answers {
            assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
            assert_eq!(answer.body.as_str(), answers[0].body.as_str());
        }
    }

    #[test]
    fn clients_that_leave_during_a_fetch_start_no_other_and_the_next_request_tries_again() {
        let source = counted(1500, None);
        let issuer = Issuer::new(source.clone(), false);
        let rt = runtime();
        rt.block_on(async {
            let leaving: Vec<_> = (0..5)
                .map(|_| {
                    let issuer = issuer.clone();
                    tokio::spawn(async move { issuer.answer().await })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(500)).await;
            for request in &leaving {
                request.abort();
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        });
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        let again = rt.block_on(issuer.answer());
        assert_eq!(again.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            2,
            "a failure is not kept"
        );
    }

    #[test]
    fn valid_credentials_are_answered_at_once_while_a_refresh_is_under_way() {
        let source = counted(1000, Some(3600));
        let issuer = Issuer::new(source.clone(), false);
        let rt = runtime();
        let first = rt.block_on(issuer.fetch_now());
        rt.block_on(async {
            let refresh = {
                let issuer = issuer.clone();
                tokio::spawn(async move { issuer.fetch_now().await })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            let started = std::time::Instant::now();
            let during = issuer.answer().await;
            assert!(started.elapsed() < Duration::from_millis(100));
            assert_eq!(during.body.as_str(), first.answer.body.as_str());
            let refreshed = refresh.await.unwrap();
            assert_ne!(refreshed.answer.body.as_str(), first.answer.body.as_str());
            let after = issuer.answer().await;
            assert_eq!(after.body.as_str(), refreshed.answer.body.as_str());
        });
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_refresh_is_due_ahead_of_the_clients_windows_or_at_expiry_when_asked() {
        // An hour's credentials: 15 minutes before they expire.
        assert_eq!(due(0, 3600, false), 2700);
        // Short-lived ones: halfway, but never inside the mandatory window.
        assert_eq!(due(0, 1200, false), 600);
        assert_eq!(due(0, 615, false), 15);
        // Never at once after a fetch.
        assert_eq!(due(0, 300, false), MIN_GAP);
        // --disable-mandatory-refresh: at expiry.
        assert_eq!(due(0, 3600, true), 3600);
    }

    /// Drives [`plan`] and [`failed`] with a manual clock from `start` to
    /// `end` seconds, with credentials fetched at 0 that expire at
    /// `expires_at`, a request answered at each second in `requests`, and
    /// every background fetch failing (`unanswered`: a touch nobody gave).
    /// The times of the background fetches.
    fn simulate(expires_at: i64, requests: &[i64], unanswered: bool, end: i64) -> Vec<i64> {
        let failure = Answer::error(StatusCode::BAD_GATEWAY, "StsError", "down");
        let outcome = if unanswered {
            Outcome::unanswered(failure)
        } else {
            Outcome::failed(failure)
        };
        let mut demand = Demand::default();
        let mut fetches = Vec::new();
        for now in 0..end {
            if requests.contains(&now) {
                demand.asked = true;
            }
            if plan(Some((0, expires_at)), demand, false, now) == Step::Fetch {
                fetches.push(now);
                demand.asked = false;
                demand = failed(demand, &outcome, expires_at, now);
            }
        }
        fetches
    }

    #[test]
    fn without_requests_after_the_first_fetch_a_failing_refresh_is_never_tried() {
        // An hour's credentials, due at 45 min; STS down, nobody asking.
        assert_eq!(simulate(3600, &[], false, 7200), Vec::<i64>::new());
    }

    #[test]
    fn with_requests_failed_refreshes_back_off_and_stop_at_expiry() {
        let every_second: Vec<i64> = (0..7200).collect();
        assert_eq!(
            simulate(3600, &every_second, false, 7200),
            // Due at 2700; then 30 s, 60 s, 120 s, 240 s, 480 s later;
            // none once the credentials held have expired at 3600.
            vec![2700, 2730, 2790, 2910, 3150],
        );
    }

    #[test]
    fn a_touch_nobody_gave_is_not_asked_again_in_the_background() {
        let every_second: Vec<i64> = (0..7200).collect();
        assert_eq!(simulate(3600, &every_second, true, 7200), vec![2700]);
    }

    #[test]
    fn a_failed_refresh_is_tried_again_only_after_a_request_since() {
        // Asked at 100: refreshed when due, at 2700, and failed; nobody asks
        // until 3000, which is the next try.
        assert_eq!(simulate(3600, &[100, 3000], false, 3600), vec![2700, 3000]);
    }

    #[test]
    fn expired_credentials_are_left_to_the_next_request() {
        let demand = Demand {
            asked: true,
            ..Demand::default()
        };
        assert_eq!(
            plan(Some((0, 3600)), demand, false, 3600),
            Step::AwaitRequest
        );
        assert_eq!(plan(None, demand, false, 0), Step::AwaitRequest);
        assert_eq!(plan(Some((0, 3600)), demand, false, 2000), Step::Sleep(700));
    }

    #[test]
    fn the_backoff_doubles_from_30_seconds_up_to_15_minutes() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(backoff(u32::MAX), RETRY_AFTER_MAX);
    }

    #[test]
    fn a_request_answered_from_held_credentials_counts_as_demand() {
        let source = counted(0, Some(3600));
        let issuer = Issuer::new(source.clone(), false);
        let rt = runtime();
        rt.block_on(issuer.fetch_now());
        assert!(!issuer.state().demand.asked, "a fetch resets the demand");
        rt.block_on(issuer.answer());
        assert!(issuer.state().demand.asked);
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }
}
