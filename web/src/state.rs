//! The state every handler shares: the store, the signing keys, the login limiter and settings.

use std::sync::Arc;

use chrono::TimeDelta;
use heliograph_shared::UnsubscribeKey;
use heliograph_shared::store::Store;

use crate::auth::keys::Keys;
use crate::auth::limiter::LoginLimiter;
use crate::settings::WebSettings;

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keys,
    pub(crate) limiter: Arc<LoginLimiter>,
    pub(crate) settings: Arc<WebSettings>,
    /// Verifies the unsubscribe links in customer emails (the mailer's key); without one the
    /// links answer 404.
    pub(crate) unsubscribe: Option<UnsubscribeKey>,
}

impl AppState {
    /// State for `settings` over `store`.
    pub fn new(settings: &WebSettings, store: Arc<dyn Store>) -> Self {
        if settings.session_secret.is_none() {
            tracing::warn!(
                "web.session_secret is not set: sessions are signed with a random key and end when the process stops"
            );
        }
        Self {
            store,
            keys: Keys::new(settings.session_secret.as_ref()),
            limiter: Arc::new(LoginLimiter::new(
                settings.login_failures,
                TimeDelta::minutes(i64::from(settings.login_window_minutes)),
                settings.login_tracked,
            )),
            settings: Arc::new(settings.clone()),
            unsubscribe: None,
        }
    }

    /// How long a session lasts.
    pub(crate) fn session_lifetime(&self) -> TimeDelta {
        TimeDelta::hours(i64::from(self.settings.session_hours.max(1)))
    }
}
