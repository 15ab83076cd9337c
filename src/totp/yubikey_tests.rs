//! The touch notice of the YubiKey source: said only for a slow CALCULATE.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

#[test]
fn a_quick_answer_is_never_announced_as_waiting_for_a_touch() {
    let announced = AtomicU32::new(0);
    let value = announce_touch_after(
        Duration::from_millis(200),
        &|| {
            announced.fetch_add(1, Ordering::SeqCst);
        },
        || 7,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!((value, announced.load(Ordering::SeqCst)), (7, 0));
}

#[test]
fn a_slow_answer_is_announced_once_while_it_is_awaited() {
    let announced = AtomicU32::new(0);
    let seen_during = announce_touch_after(
        Duration::from_millis(50),
        &|| {
            announced.fetch_add(1, Ordering::SeqCst);
        },
        || {
            std::thread::sleep(Duration::from_millis(300));
            announced.load(Ordering::SeqCst)
        },
    );
    assert_eq!((seen_during, announced.load(Ordering::SeqCst)), (1, 1));
}
