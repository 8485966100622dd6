//! The providers' displayed names, for a login form that takes a name instead of a slug. The
//! form is open to anyone, so the name index is read from the store at most once per
//! [`REFRESH`], however many attempts arrive: a flood of made-up names costs a lookup in memory
//! each, not a listing of every provider each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use heliograph_shared::ProviderSlug;
use heliograph_shared::store::{ProviderRegistry, StoreError};
use tokio::sync::Mutex;

/// How old the index may be: a provider renamed a moment ago is found by its new name after
/// this long (its slug works at once).
pub const REFRESH: Duration = Duration::from_secs(10);

/// Every provider's displayed name, lowercased, with its slug.
type Index = Arc<Vec<(String, ProviderSlug)>>;

/// The name index, read from the store when older than [`REFRESH`].
#[derive(Default)]
pub struct ProviderNames {
    cached: Mutex<Option<(Instant, Index)>>,
}

impl ProviderNames {
    /// The slugs of the providers whose displayed name is `lowered` (already trimmed and
    /// lowercased). Concurrent callers wait for one refresh instead of each listing.
    pub async fn named(
        &self,
        store: &dyn ProviderRegistry,
        lowered: &str,
    ) -> Result<Vec<ProviderSlug>, StoreError> {
        let index = {
            let mut cached = self.cached.lock().await;
            match cached.as_ref() {
                Some((read, index)) if read.elapsed() < REFRESH => Arc::clone(index),
                _ => {
                    let index: Index = Arc::new(
                        store
                            .providers()
                            .await?
                            .into_iter()
                            // The displayed name only, which the operator sets: a brand is
                            // the provider's own to choose, and one provider could otherwise
                            // take another's name and make it ambiguous.
                            .map(|p| (p.display_name.trim().to_lowercase(), p.slug))
                            .collect(),
                    );
                    *cached = Some((Instant::now(), Arc::clone(&index)));
                    index
                }
            }
        };
        Ok(index.iter().filter(|(name, _)| name == lowered).map(|(_, slug)| slug.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use heliograph_shared::store::TenantStore;
    use heliograph_shared::{GatewayId, Provider};

    use super::*;

    /// Two providers, and a count of the listings asked of it.
    #[derive(Default)]
    struct CountingRegistry {
        listings: AtomicUsize,
    }

    fn refused() -> StoreError {
        StoreError::UnknownProvider(ProviderSlug::parse("none").expect("a valid slug"))
    }

    #[async_trait]
    impl ProviderRegistry for CountingRegistry {
        fn backend(&self) -> &'static str {
            "counting"
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn create_provider(&self, _: &Provider) -> Result<(), StoreError> {
            Err(refused())
        }
        async fn update_provider(&self, _: &Provider) -> Result<(), StoreError> {
            Err(refused())
        }
        async fn provider(&self, _: &ProviderSlug) -> Result<Option<Provider>, StoreError> {
            Ok(None)
        }
        async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
            self.listings.fetch_add(1, Ordering::SeqCst);
            let slug = |s: &str| ProviderSlug::parse(s).expect("a valid slug");
            Ok(vec![
                Provider::new(slug("sunrise"), "Sunrise Solar"),
                Provider::new(slug("voltwerk"), "Voltwerk O&M"),
            ])
        }
        async fn tenant(&self, _: &ProviderSlug) -> Result<Arc<dyn TenantStore>, StoreError> {
            Err(refused())
        }
        async fn locate_gateway(&self, _: &GatewayId) -> Result<Option<ProviderSlug>, StoreError> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn a_flood_of_made_up_names_lists_the_providers_once_per_refresh() {
        let (registry, names) = (CountingRegistry::default(), ProviderNames::default());
        let found = names.named(&registry, "sunrise solar").await.expect("named");
        assert_eq!(found, [ProviderSlug::parse("sunrise").expect("a valid slug")]);
        let attempts = (0..1_000).map(|i| {
            let (names, registry) = (&names, &registry);
            async move { names.named(registry, &format!("made up {i}")).await.expect("named").len() }
        });
        let found: usize = futures::future::join_all(attempts).await.into_iter().sum();
        assert_eq!(found, 0);
        assert_eq!(registry.listings.load(Ordering::SeqCst), 1, "1,001 attempts, one listing");
    }
}
