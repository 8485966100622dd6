//! Login rate limiting, in three parts that each answer one kind of attack:
//! - per account (whatever the address): after a few failures every further attempt must wait,
//!   the wait doubling with each failure up to a maximum. Guessing one password from many
//!   addresses gets slow, yet a stranger who fails on purpose keeps the real user waiting at most
//!   that maximum, never locked out for the whole window;
//! - per client address (whatever the account): the same, with more free failures, against one
//!   address spraying a password over many user names;
//! - installation-wide: a budget of failures per minute, against many addresses doing that.
//!
//! An attempt is counted when it is let through, before its password is checked, so concurrent
//! guesses cannot all pass the check before the first failure is recorded; a success takes its
//! count back. Kept in memory per process and bounded (the stalest entries go first).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How hard the limiter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSettings {
    /// Failures of one account let through without waiting.
    pub account_failures: u32,
    /// Failures from one address let through without waiting.
    pub address_failures: u32,
    /// The first wait; it doubles with each further failure.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// An account's or address's failures are forgotten this long after its last one.
    pub window: Duration,
    /// Failures the whole process lets through per minute (as a burst of that many, refilled
    /// evenly).
    pub failures_per_minute: u32,
    /// Accounts and addresses tracked at most, each.
    pub capacity: usize,
}

/// Failed logins per account, per address and in all.
pub struct LoginLimiter {
    settings: LimiterSettings,
    state: Mutex<State>,
}

struct State {
    accounts: HashMap<String, Backoff>,
    addresses: HashMap<IpAddr, Backoff>,
    budget: Budget,
}

/// One account's or address's recent failures.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    last: Instant,
    next_allowed: Instant,
}

/// The installation-wide failure budget: a token bucket.
#[derive(Debug, Clone, Copy)]
struct Budget {
    tokens: f64,
    refilled: Instant,
}

impl LoginLimiter {
    /// A limiter holding as `settings` say.
    pub fn new(settings: LimiterSettings, now: Instant) -> Self {
        let settings = LimiterSettings {
            account_failures: settings.account_failures.max(1),
            address_failures: settings.address_failures.max(1),
            failures_per_minute: settings.failures_per_minute.max(1),
            capacity: settings.capacity.max(1),
            ..settings
        };
        let budget = Budget { tokens: f64::from(settings.failures_per_minute), refilled: now };
        Self {
            settings,
            state: Mutex::new(State { accounts: HashMap::new(), addresses: HashMap::new(), budget }),
        }
    }

    /// Lets an attempt on `account` from `address` through at `now` and counts it as a failure
    /// until [`Self::succeeded`] says otherwise; or how long to wait first.
    pub fn reserve(&self, address: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let s = &self.settings;
        let Ok(mut state) = self.state.lock() else { return Err(s.max_delay) };
        let state = &mut *state;
        state.budget.refill(now, s.failures_per_minute);
        let waits = [
            wait(state.accounts.get(account), now, s.window),
            wait(state.addresses.get(&address), now, s.window),
            state.budget.wait(s.failures_per_minute),
        ];
        if let Some(longest) = waits.into_iter().max().filter(|w| !w.is_zero()) {
            return Err(longest);
        }
        count(&mut state.accounts, account.to_owned(), now, s.account_failures, s);
        count(&mut state.addresses, address, now, s.address_failures, s);
        state.budget.tokens -= 1.0;
        Ok(())
    }

    /// Takes back the count of a successful attempt: the account's failures are forgotten, the
    /// address and the budget get theirs back.
    pub fn succeeded(&self, address: IpAddr, account: &str) {
        let Ok(mut state) = self.state.lock() else { return };
        state.accounts.remove(account);
        if let Some(entry) = state.addresses.get_mut(&address) {
            entry.failures = entry.failures.saturating_sub(1);
        }
        let cap = f64::from(self.settings.failures_per_minute);
        state.budget.tokens = (state.budget.tokens + 1.0).min(cap);
    }

    /// Accounts and addresses tracked.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.accounts.len() + s.addresses.len()).unwrap_or(0)
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long `entry` must still wait at `now` (zero when it may try).
fn wait(entry: Option<&Backoff>, now: Instant, window: Duration) -> Duration {
    match entry {
        Some(b) if now.saturating_duration_since(b.last) < window => {
            b.next_allowed.saturating_duration_since(now)
        }
        _ => Duration::ZERO,
    }
}

/// Counts a failure of `key`: from the `free`-th on, the next attempt must wait, twice as long
/// after each further one, up to the maximum.
fn count<K: Eq + Hash + Clone>(
    table: &mut HashMap<K, Backoff>,
    key: K,
    now: Instant,
    free: u32,
    s: &LimiterSettings,
) {
    if !table.contains_key(&key) && table.len() >= s.capacity {
        table.retain(|_, b| now.saturating_duration_since(b.last) < s.window);
        if table.len() >= s.capacity
            && let Some(stalest) = table.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| k.clone())
        {
            table.remove(&stalest);
        }
    }
    let entry = table.entry(key).or_insert(Backoff { failures: 0, last: now, next_allowed: now });
    if now.saturating_duration_since(entry.last) >= s.window {
        entry.failures = 0;
    }
    entry.failures = entry.failures.saturating_add(1);
    entry.last = now;
    entry.next_allowed = now + delay(entry.failures, free, s);
}

/// The wait after the `failures`-th failure.
fn delay(failures: u32, free: u32, s: &LimiterSettings) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = (failures - free).min(31);
    s.first_delay.saturating_mul(1 << doublings).min(s.max_delay)
}

impl Budget {
    fn refill(&mut self, now: Instant, per_minute: u32) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        let cap = f64::from(per_minute);
        self.tokens = (self.tokens + elapsed * cap / 60.0).min(cap);
        self.refilled = now;
    }

    /// How long until a whole token is there (zero when one is).
    fn wait(&self, per_minute: u32) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) * 60.0 / f64::from(per_minute))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn address(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn settings() -> LimiterSettings {
        LimiterSettings {
            account_failures: 5,
            address_failures: 20,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            window: Duration::from_secs(15 * 60),
            failures_per_minute: 1000,
            capacity: 10_000,
        }
    }

    #[test]
    fn an_account_waits_after_five_failures_twice_as_long_each_time_up_to_the_maximum() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(settings(), now);
        for n in 0..5 {
            assert_eq!(limiter.reserve(address(n), "sunrise/demo", now), Ok(()), "failure {n} is free");
        }
        assert_eq!(limiter.reserve(address(9), "sunrise/demo", now), Err(Duration::from_secs(1)));
        assert_eq!(limiter.reserve(HOME, "sunrise/other", now), Ok(()), "another account is not affected");
        let mut at = now;
        let mut waits = Vec::new();
        for n in 0..9 {
            let Err(w) = limiter.reserve(address(100 + n), "sunrise/demo", at) else { panic!("not limited") };
            waits.push(w.as_secs());
            at += w;
            assert_eq!(
                limiter.reserve(address(100 + n), "sunrise/demo", at),
                Ok(()),
                "allowed after the wait"
            );
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 60, 60, 60],
            "growing, never a lock-out longer than the maximum"
        );
    }

    #[test]
    fn a_success_forgets_the_accounts_failures() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(settings(), now);
        for _ in 0..5 {
            limiter.reserve(HOME, "a/b", now).expect("free");
        }
        limiter.succeeded(HOME, "a/b");
        assert_eq!(limiter.reserve(HOME, "a/b", now), Ok(()));
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed_down() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(settings(), now);
        for n in 0..20 {
            assert_eq!(limiter.reserve(HOME, &format!("p/user{n}"), now), Ok(()));
        }
        assert_eq!(limiter.reserve(HOME, "p/user20", now), Err(Duration::from_secs(1)));
        assert_eq!(limiter.reserve(address(1), "p/user20", now), Ok(()), "another address is not affected");
    }

    #[test]
    fn the_global_budget_stops_many_addresses_spraying_many_accounts_and_refills() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(LimiterSettings { failures_per_minute: 60, ..settings() }, now);
        for n in 0..60 {
            assert_eq!(limiter.reserve(address(n), &format!("p/user{n}"), now), Ok(()));
        }
        let refused = limiter.reserve(address(60), "p/user60", now);
        assert_eq!(refused, Err(Duration::from_secs(1)), "one failure per second once the burst is spent");
        assert_eq!(limiter.reserve(address(60), "p/user60", now + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn concurrent_guesses_cannot_all_pass_before_the_first_failure_is_counted() {
        let now = Instant::now();
        let limiter = std::sync::Arc::new(LoginLimiter::new(settings(), now));
        let passed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..100)
                .map(|n| {
                    let limiter = std::sync::Arc::clone(&limiter);
                    scope.spawn(move || limiter.reserve(address(n), "sunrise/demo", now).is_ok())
                })
                .collect();
            handles.into_iter().map(|h| usize::from(h.join().expect("no panic"))).sum()
        });
        assert_eq!(passed, 5, "of 100 guesses at once only the free five get to a password check");
    }

    #[test]
    fn failures_are_forgotten_after_the_window() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(settings(), now);
        for _ in 0..5 {
            limiter.reserve(HOME, "a/b", now).expect("free");
        }
        let later = now + Duration::from_secs(15 * 60);
        for _ in 0..5 {
            assert_eq!(limiter.reserve(HOME, "a/b", later), Ok(()), "a fresh start after the window");
        }
    }

    #[test]
    fn the_tables_never_grow_beyond_their_capacity() {
        let now = Instant::now();
        let limiter = LoginLimiter::new(LimiterSettings { capacity: 3, ..settings() }, now);
        for n in 0..10 {
            let _ =
                limiter.reserve(address(n), &format!("p/user{n}"), now + Duration::from_secs(u64::from(n)));
        }
        assert_eq!(limiter.len(), 6, "three accounts and three addresses");
    }
}
