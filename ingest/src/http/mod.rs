//! SunSpec uploads over HTTP: real data loggers POST their `<sunSpecData>` documents with Basic
//! authentication (user = gateway id, password = token). The same parser and pipeline as the TCP
//! listener; the SunSpec answer comes back as the body, with an HTTP status that matches it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use heliograph_shared::TimestampPolicy;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::pipeline::{Listener, Pipeline, credentials};
use crate::protocol::{Answer, Document, ErrorCode, Format, ParseContext, ProtocolError, parse_document};
use crate::settings::IngestSettings;

#[derive(Clone)]
struct HttpState {
    pipeline: Arc<Pipeline>,
    settings: Arc<IngestSettings>,
}

/// The HTTP routes: `POST /sunspec` (also `POST /`), `GET /healthz`, `GET /readyz` (the store
/// answers) and `GET /metrics` (Prometheus text, when a recorder is given).
pub fn router(
    pipeline: Arc<Pipeline>,
    settings: Arc<IngestSettings>,
    metrics: Option<PrometheusHandle>,
) -> Router {
    let limit = settings.max_document_bytes;
    let ready_store = Arc::clone(pipeline.store());
    let mut router = Router::new()
        .route("/", post(upload))
        .route("/sunspec", post(upload))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let store = Arc::clone(&ready_store);
                async move {
                    match store.ping().await {
                        Ok(()) => (StatusCode::OK, "ready"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable"),
                    }
                }
            }),
        );
    if let Some(handle) = metrics {
        router = router.route("/metrics", get(move || std::future::ready(handle.render())));
    }
    router.layer(DefaultBodyLimit::max(limit)).with_state(HttpState { pipeline, settings })
}

async fn upload(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = ProtocolError::new(
                ErrorCode::TooLarge,
                format!("document exceeds the limit of {} bytes", state.settings.max_document_bytes),
            );
            return refusal(Some(Format::SunSpec), error);
        }
        Err(rejection) => {
            return refusal(
                Some(Format::SunSpec),
                ProtocolError::new(ErrorCode::Invalid, rejection.body_text()),
            );
        }
    };
    let credentials = match basic_credentials(&headers) {
        Ok(credentials) => credentials,
        Err(error) => return refusal(Some(Format::SunSpec), error),
    };
    let gateway = match state.pipeline.authenticate(&Listener::Shared, &credentials, peer).await {
        Ok(gateway) => gateway,
        Err(error) => return refusal(Some(Format::SunSpec), error),
    };
    let context = ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy {
            max_skew: chrono::Duration::seconds(state.settings.max_clock_skew_secs),
            ..TimestampPolicy::default()
        },
        max_readings: state.settings.max_readings_per_document,
        session_gateway: Some(gateway.gateway.clone()),
    };
    let (outcome, format) = parse_document(&body, context, state.settings.max_depth);
    let document = match outcome {
        Ok(Document::Readings(document)) => document,
        Ok(Document::Hello(_)) => {
            let error =
                ProtocolError::new(ErrorCode::Invalid, "a hello is not needed over HTTP: POST the documents");
            return refusal(format, error);
        }
        Err(error) => return refusal(format.or(Some(Format::SunSpec)), error),
    };
    let format = document.format;
    match state.pipeline.store_document(&gateway, document, None).await {
        Ok(answer) => xml(StatusCode::OK, &answer),
        Err(error) => refusal(Some(format), error),
    }
}

/// Reads `Authorization: Basic base64(gateway:token)`.
fn basic_credentials(headers: &HeaderMap) -> Result<crate::protocol::Credentials, ProtocolError> {
    let missing =
        || ProtocolError::new(ErrorCode::Unauthorized, "send Basic authentication: gateway id and token");
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(missing)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| missing())?;
    let decoded = String::from_utf8(decoded).map_err(|_| missing())?;
    let (gateway, token) = decoded.split_once(':').ok_or_else(missing)?;
    credentials(gateway, token)
}

fn refusal(format: Option<Format>, error: ProtocolError) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let unauthorized = error.code == ErrorCode::Unauthorized;
    let mut response = xml(status, &Answer::refused(format, None, error));
    if unauthorized {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"heliograph\""));
    }
    response
}

fn xml(status: StatusCode, answer: &Answer) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], answer.to_xml()).into_response()
}
