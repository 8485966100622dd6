//! Login rate limiting: failed attempts per client address and user name in a fixed window,
//! kept in memory and bounded (the oldest entries go first when it is full).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// Failed logins per (address, provider/user) within a window.
pub struct LoginLimiter {
    failures: u32,
    window: TimeDelta,
    capacity: usize,
    entries: Mutex<HashMap<(IpAddr, String), Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

impl LoginLimiter {
    /// Allows `failures` failed logins per `window`, tracking at most `capacity` pairs.
    pub fn new(failures: u32, window: TimeDelta, capacity: usize) -> Self {
        Self {
            failures: failures.max(1),
            window,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// True when another attempt for `who` from `address` may be tried at `now`.
    pub fn allows(&self, address: IpAddr, who: &str, now: DateTime<Utc>) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        entries
            .get(&(address, who.to_owned()))
            .is_none_or(|w| now - w.started >= self.window || w.failures < self.failures)
    }

    /// Counts a failed attempt.
    pub fn failed(&self, address: IpAddr, who: &str, now: DateTime<Utc>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        let key = (address, who.to_owned());
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, w| now - w.started < self.window);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        let window = entries.entry(key).or_insert(Window { started: now, failures: 0 });
        if now - window.started >= self.window {
            *window = Window { started: now, failures: 0 };
        }
        window.failures += 1;
    }

    /// Forgets the failures of a pair after a successful login.
    pub fn succeeded(&self, address: IpAddr, who: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(address, who.to_owned()));
        }
    }

    /// Pairs tracked.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn the_sixth_attempt_within_the_window_is_refused_and_allowed_again_after_it() {
        let limiter = LoginLimiter::new(5, TimeDelta::minutes(15), 100);
        let now = Utc::now();
        for _ in 0..5 {
            assert!(limiter.allows(HOME, "sunrise/demo", now));
            limiter.failed(HOME, "sunrise/demo", now);
        }
        assert!(!limiter.allows(HOME, "sunrise/demo", now));
        assert!(limiter.allows(HOME, "sunrise/other", now), "another user is not affected");
        assert!(limiter.allows(HOME, "sunrise/demo", now + TimeDelta::minutes(15)));
    }

    #[test]
    fn a_success_clears_the_failures() {
        let limiter = LoginLimiter::new(2, TimeDelta::minutes(15), 100);
        let now = Utc::now();
        limiter.failed(HOME, "a/b", now);
        limiter.succeeded(HOME, "a/b");
        assert!(limiter.is_empty());
    }

    #[test]
    fn the_table_never_grows_beyond_its_capacity() {
        let limiter = LoginLimiter::new(5, TimeDelta::minutes(15), 3);
        let now = Utc::now();
        for i in 0..10 {
            limiter.failed(HOME, &format!("p/user{i}"), now + TimeDelta::seconds(i));
        }
        assert_eq!(limiter.len(), 3);
    }
}
