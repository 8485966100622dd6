//! Waiting for a condition with a deadline. A test that sleeps for a guessed time is slow when
//! the guess is generous and flaky when the machine is slower than the guess; polling a
//! condition is neither.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is asked again.
const POLL: Duration = Duration::from_millis(20);

/// Blocks the calling thread until `condition` holds, failing the test with `what` if it does
/// not within `within`. For conditions on other processes (a port opened by a child); inside an
/// async test, a condition served by the test's own runtime needs [`wait_until_async`].
pub fn wait_until(within: Duration, what: &str, condition: impl FnMut() -> bool) {
    assert!(try_wait_until(within, condition), "waited {within:?} for {what}");
}

/// Like [`wait_until`], but says whether `condition` came true instead of failing: for a test
/// with more to say when it does not (a child's log) or more to do first (a child to kill).
pub fn try_wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `condition` yields `Some`, and returns it; fails the test with `what` if it does
/// not within `within`.
pub async fn wait_until_async<T, F, Fut>(within: Duration, what: &str, condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match try_wait_until_async(within, condition).await {
        Some(value) => value,
        None => panic!("waited {within:?} for {what}"),
    }
}

/// Like [`wait_until_async`], but `None` when `condition` yields nothing within `within`
/// instead of failing, for a test that reports the failure itself.
pub async fn try_wait_until_async<T, F, Fut>(within: Duration, mut condition: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        // A condition that hangs (a request without a timeout) is cut off at the deadline too.
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(Some(value)) = tokio::time::timeout(remaining, condition()).await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_comes_true_ends_the_wait() {
        let started = Instant::now();
        wait_until(Duration::from_secs(5), "the clock", || started.elapsed() > Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_condition_that_hangs_is_cut_off_at_the_deadline() {
        let started = Instant::now();
        let waited = tokio::spawn(wait_until_async(Duration::from_millis(100), "a hung request", || {
            std::future::pending::<Option<()>>()
        }))
        .await;
        assert!(waited.is_err(), "the wait fails instead of hanging");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_condition_that_never_comes_true_is_reported_to_the_caller() {
        assert!(!try_wait_until(Duration::from_millis(60), || false));
    }

    #[test]
    #[should_panic(expected = "waited")]
    fn a_condition_that_never_comes_true_fails_with_what_was_awaited() {
        wait_until(Duration::from_millis(60), "nothing", || false);
    }
}
