//! Which refused gateways are written to the store for people to see. Anyone who can reach a
//! port can present thousands of made-up ids a minute, so writes are bounded three ways: an id
//! at most once a minute per provider, a peer address a few times a minute, and the process a
//! few hundred times a minute. Every refusal is still counted in the metrics.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use heliograph_shared::{GatewayId, ProviderSlug};

/// An id is written at most this often per provider (or installation-wide).
const PER_ID_INTERVAL: Duration = Duration::from_secs(60);
/// Refusals one peer address may have written per window.
const PER_PEER: u32 = 20;
/// Refusals the process writes per window.
const PER_PROCESS: u32 = 300;
/// The window of the two counts above.
const WINDOW: Duration = Duration::from_secs(60);
/// Most ids and addresses remembered; when full, refusals are not written until it empties.
const REMEMBERED: usize = 10_000;

/// The bounds' state.
pub(crate) struct RefusalLog {
    ids: Mutex<HashMap<(Option<ProviderSlug>, GatewayId), Instant>>,
    peers: Mutex<HashMap<IpAddr, Window>>,
    process: Mutex<Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn new() -> Self {
        Self { started: Instant::now(), count: 0 }
    }

    /// Counts one more if the window has room (a new window once the old one is over).
    fn admit(&mut self, limit: u32) -> bool {
        if self.started.elapsed() >= WINDOW {
            *self = Self::new();
        }
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self { ids: Mutex::default(), peers: Mutex::default(), process: Mutex::new(Window::new()) }
    }
}

impl RefusalLog {
    /// Whether a refusal of `gateway` (at `provider`, or installation-wide) from `peer` is to be
    /// written now; counts it when it is.
    pub(crate) fn admit(&self, provider: Option<&ProviderSlug>, gateway: &GatewayId, peer: IpAddr) -> bool {
        let key = (provider.cloned(), gateway.clone());
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.get(&key).is_some_and(|at| at.elapsed() < PER_ID_INTERVAL) {
            return false;
        }
        if ids.len() >= REMEMBERED {
            ids.retain(|_, at| at.elapsed() < PER_ID_INTERVAL);
            if ids.len() >= REMEMBERED {
                return false;
            }
        }
        {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            if peers.len() >= REMEMBERED && !peers.contains_key(&peer) {
                peers.retain(|_, w| w.started.elapsed() < WINDOW);
                if peers.len() >= REMEMBERED {
                    return false;
                }
            }
            if !peers.entry(peer).or_insert_with(Window::new).admit(PER_PEER) {
                return false;
            }
        }
        if !self.process.lock().unwrap_or_else(PoisonError::into_inner).admit(PER_PROCESS) {
            return false;
        }
        ids.insert(key, Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn id(n: usize) -> GatewayId {
        GatewayId::parse(&format!("GW-{n}")).unwrap()
    }

    #[test]
    fn an_id_is_written_once_a_minute_per_provider() {
        let log = RefusalLog::default();
        let (acme, peer) = (ProviderSlug::parse("acme").unwrap(), IpAddr::from([10, 0, 0, 1]));
        assert!(log.admit(Some(&acme), &id(1), peer));
        assert!(!log.admit(Some(&acme), &id(1), peer));
        assert!(log.admit(None, &id(1), IpAddr::from([10, 0, 0, 2])), "installation-wide is its own");
    }

    #[test]
    fn one_address_and_the_whole_process_are_each_capped_per_window() {
        let log = RefusalLog::default();
        let peer = IpAddr::from([10, 0, 0, 1]);
        let written = (0..1000).filter(|&n| log.admit(None, &id(n), peer)).count();
        assert_eq!(written, PER_PEER as usize);
        let spread = (0..50_000)
            .filter(|&n| log.admit(None, &id(100_000 + n), IpAddr::from([10, 1, (n >> 8) as u8, n as u8])))
            .count();
        assert_eq!(written + spread, PER_PROCESS as usize, "50,000 ids from many addresses");
    }
}
