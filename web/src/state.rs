//! The state every handler shares: the store, the signing keys, the login limiter, the
//! password-check slots and settings.

use std::sync::Arc;
use std::time::Instant;

use chrono::TimeDelta;
use heliograph_shared::UnsubscribeKey;
use heliograph_shared::store::Store;

use crate::auth::keys::Keys;
use crate::auth::limiter::LoginLimiter;
use crate::auth::passwords::PasswordChecks;
use crate::auth::provider_names::ProviderNames;
use crate::settings::WebSettings;

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keys,
    pub(crate) limiter: Arc<LoginLimiter>,
    pub(crate) passwords: PasswordChecks,
    /// Providers by displayed name, for the login form.
    pub(crate) provider_names: Arc<ProviderNames>,
    pub(crate) settings: Arc<WebSettings>,
    /// Verifies the unsubscribe links in customer emails (the mailer's key); without one the
    /// links answer 404.
    pub(crate) unsubscribe: Option<UnsubscribeKey>,
}

impl AppState {
    /// State for `settings` over `store`; fails when the password threads cannot be started.
    pub fn new(settings: &WebSettings, store: Arc<dyn Store>) -> std::io::Result<Self> {
        if settings.session_secret.is_none() {
            tracing::warn!(
                "web.session_secret is not set: sessions are signed with a random key and end when the process stops"
            );
        }
        Ok(Self {
            store,
            keys: Keys::new(settings.session_secret.as_ref()),
            limiter: Arc::new(LoginLimiter::new(settings.limiter(), Instant::now())),
            passwords: PasswordChecks::new(settings.password_checks)?,
            provider_names: Arc::new(ProviderNames::default()),
            settings: Arc::new(settings.clone()),
            unsubscribe: None,
        })
    }

    /// How long a session lasts.
    pub(crate) fn session_lifetime(&self) -> TimeDelta {
        TimeDelta::hours(i64::from(self.settings.session_hours.max(1)))
    }
}
