//! The stylesheet and icon, compiled into the binary and served by the app itself.

use axum::http::header;
use axum::response::IntoResponse;

const STYLESHEET: &str = include_str!("../static/app.css");
const ICON: &str = include_str!("../static/favicon.svg");

/// `GET /static/app.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        STYLESHEET,
    )
}

/// `GET /favicon.svg`.
pub async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], ICON)
}
