//! What ingest remembers of gateways between documents, so that a document costs no store read
//! for its credentials: which provider owns an id (the installation's directory) and each known
//! gateway's record, kept per provider.
//!
//! Only the store's own answers are cached: a record under (provider, gateway) as that
//! provider's namespace gave it, and an id's owner as the directory gave it. A lookup of an id at
//! a provider that does not have it is never cached, so nothing said on one provider's port can
//! change what another provider's gateway gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use heliograph_shared::store::TenantStore;
use heliograph_shared::{Gateway, GatewayId, ProviderSlug};

/// Most entries of each map; when full it starts over (it is only a cache).
const LIMIT: usize = 100_000;

/// A gateway's record and its provider's store.
pub(crate) type Found = (Arc<dyn TenantStore>, Gateway);

struct Entry<T> {
    value: T,
    fetched: Instant,
}

/// The caches, with the time for which an entry is trusted.
pub(crate) struct GatewayCache {
    ttl: Duration,
    /// Owner of an id per the installation's directory (`None`: no provider has it).
    owners: Mutex<HashMap<GatewayId, Entry<Option<ProviderSlug>>>>,
    /// Known gateways' records, by provider and id.
    records: Mutex<HashMap<(ProviderSlug, GatewayId), Entry<Found>>>,
}

impl GatewayCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, owners: Mutex::default(), records: Mutex::default() }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The owner of `id` per the directory, if looked up within the time to live (or at any
    /// time when `stale` is set: during a store outage a known owner keeps gateways flowing).
    pub(crate) fn owner(&self, id: &GatewayId, stale: bool) -> Option<Option<ProviderSlug>> {
        let owners = lock(&self.owners);
        let entry = owners.get(id)?;
        (stale || entry.fetched.elapsed() <= self.ttl).then(|| entry.value.clone())
    }

    pub(crate) fn put_owner(&self, id: &GatewayId, owner: Option<ProviderSlug>) {
        insert(&self.owners, id.clone(), owner);
    }

    /// A provider's record of a gateway, as above.
    pub(crate) fn record(&self, provider: &ProviderSlug, id: &GatewayId, stale: bool) -> Option<Found> {
        let records = lock(&self.records);
        let entry = records.get(&(provider.clone(), id.clone()))?;
        (stale || entry.fetched.elapsed() <= self.ttl)
            .then(|| (Arc::clone(&entry.value.0), entry.value.1.clone()))
    }

    pub(crate) fn put_record(&self, provider: &ProviderSlug, found: Found) {
        let key = (provider.clone(), found.1.id.clone());
        insert(&self.records, key, found);
    }

    /// Forgets what is known of `id` (after its token was rotated, say).
    pub(crate) fn forget(&self, id: &GatewayId) {
        lock(&self.owners).remove(id);
        lock(&self.records).retain(|(_, gateway), _| gateway != id);
    }
}

fn insert<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Entry<T>>>, key: K, value: T) {
    let mut map = lock(map);
    if map.len() >= LIMIT && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, Entry { value, fetched: Instant::now() });
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A cache left half-updated by a panic is still a valid cache.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
