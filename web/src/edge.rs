//! What every request of the panel passes before routing: at most `max_requests` handled at
//! once (one more is answered `503` at once rather than queued), a body limit on every route,
//! a deadline from the request's head to its answer, and the security headers on every answer,
//! these refusals included. The limits before a request is read (its head's deadline, open
//! connections) are the listener's: `heliograph_shared::http_edge`.

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::security;
use crate::settings::WebSettings;

/// `routes` behind the panel's limits, as one service: the limits count requests across every
/// route, not per route.
pub fn layered(routes: Router, settings: &WebSettings) -> Router {
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refusal))
        .layer(LoadShedLayer::new())
        .layer(ConcurrencyLimitLayer::new(settings.max_requests.max(1)))
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout()))
        .service(routes);
    Router::new().fallback_service(limited).layer(map_response(security::headers))
}

/// The answer when the limits refuse a request: `503` with `Retry-After` when all slots are
/// taken.
async fn refusal(error: tower::BoxError) -> Response {
    if error.is::<Overloaded>() {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, "busy: try again in a moment\n").into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    } else {
        tracing::error!(%error, "request failed in the panel's limits");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}
