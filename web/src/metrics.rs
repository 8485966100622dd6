//! The web process's Prometheus metrics: how long each route takes to answer (report pages
//! included), by route pattern and status class. The process serves them on its internal listener.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Seconds from a request's arrival to its response, by route pattern and status class.
pub const REQUEST_SECONDS: &str = "heliograph_web_request_seconds";

/// Times every request. Labels are the route's pattern (`/sites/{id}/{view}/{period}`), never
/// the path itself, so the label set stays bounded whatever URLs clients try.
pub async fn time_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = match response.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!(REQUEST_SECONDS, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
