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
pub fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        std::thread::sleep(POLL);
    }
}

/// Waits until `condition` yields `Some`, and returns it; fails the test with `what` if it does
/// not within `within`.
pub async fn wait_until_async<T, F, Fut>(within: Duration, what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        // A condition that hangs (a request without a timeout) is cut off at the deadline too.
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(Some(value)) = tokio::time::timeout(remaining, condition()).await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
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
    #[should_panic(expected = "waited")]
    fn a_condition_that_never_comes_true_fails_with_what_was_awaited() {
        wait_until(Duration::from_millis(60), "nothing", || false);
    }
}
