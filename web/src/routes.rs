//! The routes, by area: public (health, login, stylesheet), the panel behind the session
//! middleware, and the API behind the token middleware. The limits and security headers every
//! route shares are put around them in `edge`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::auth::{self, login};
use crate::error::AppError;
use crate::pages::{
    alerts, customers, fleet, gateways, operator, quarantine, readings, settings, site, unsubscribe,
};
use crate::state::AppState;
use crate::{api, assets, metrics};

/// Every route of the web process.
pub fn router(state: AppState) -> Router {
    let panel = Router::new()
        .route("/", get(fleet::home))
        .route("/sites", get(fleet::overview))
        .route("/sites/{id}", get(site::today))
        .route("/sites/{id}/readings", get(readings::page))
        .route("/sites/{id}/readings/csv", get(readings::csv))
        .route("/sites/{id}/{view}/{period}", get(site::report_page))
        .route("/sites/{id}/{view}/{period}/csv", get(site::report_csv))
        .route("/customers", get(customers::list).post(customers::create))
        .route("/customers/{id}", get(customers::show).post(customers::update))
        .route("/customers/{id}/active", post(customers::set_active))
        .route("/gateways", get(gateways::list).post(gateways::create))
        .route("/gateways/{id}", get(gateways::show).post(gateways::update))
        .route("/gateways/{id}/active", post(gateways::set_active))
        .route("/gateways/{id}/alerting", post(gateways::update_alerting))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/gateways/{id}/rotate-token", post(gateways::rotate_token))
        .route("/quarantine", get(quarantine::page))
        .route("/quarantine/commission", post(quarantine::commission))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/settings/api-tokens", post(settings::issue_token))
        .route("/settings/api-tokens/revoke", post(settings::revoke_token))
        .route("/logout", post(login::logout))
        .route_layer(from_fn_with_state(state.clone(), auth::require_session));
    let console = Router::new()
        .route("/operator", get(operator::console))
        .route("/operator/providers", post(operator::create_provider))
        .route("/operator/logout", post(auth::operator::logout))
        .route_layer(from_fn_with_state(state.clone(), auth::operator::require_operator));
    let api = Router::new()
        .route("/sites", get(api::sites))
        .route("/sites/{id}/readings", get(api::readings))
        .route("/sites/{id}/{view}/{period}", get(api::report))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/login", get(login::form).post(login::submit))
        .route("/operator/login", get(auth::operator::login_form).post(auth::operator::login))
        .route("/unsubscribe/{token}", get(unsubscribe::confirm).post(unsubscribe::unsubscribe))
        .route("/static/app.css", get(assets::stylesheet))
        .route("/favicon.svg", get(assets::icon))
        .merge(panel)
        .merge(console)
        .nest("/api/v1", api)
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::from_fn(metrics::time_request))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    heliograph_shared::http_edge::readiness(Some(state.store.as_ref())).await
}
