//! SunSpec uploads over HTTP: real data loggers POST their `<sunSpecData>` documents with Basic
//! authentication (user = gateway id, password = token). The same parser and pipeline as the TCP
//! listener; the SunSpec answer comes back as the body, with an HTTP status that matches it.
//!
//! The listener is open to anyone, so nothing is read before it is needed: the credentials are
//! checked before a byte of the body is read (401 without reading it), a declared length over the
//! limit is refused at once (413), the body's bytes are taken from the process's memory pool
//! (503 when it is empty), the whole request has a deadline (408), and the listener
//! (`heliograph_shared::http_edge`) caps connections with the TCP listeners' semaphore and
//! closes one whose headers do not arrive in time.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use heliograph_shared::TimestampPolicy;

use crate::budget::MemoryPool;
use crate::pipeline::{Listener, Pipeline, credentials};
use crate::protocol::{Answer, Document, ErrorCode, Format, ParseContext, ProtocolError, parse_document};
use crate::settings::IngestSettings;

#[derive(Clone)]
struct HttpState {
    pipeline: Arc<Pipeline>,
    settings: Arc<IngestSettings>,
    memory: MemoryPool,
}

/// The HTTP routes: `POST /sunspec` (also `POST /`), `GET /healthz`, `GET /readyz` (the store
/// answers). Metrics are served on the process's internal listener, not here.
pub fn router(pipeline: Arc<Pipeline>, settings: Arc<IngestSettings>, memory: MemoryPool) -> Router {
    let deadline = settings.http_request_timeout();
    let ready_store = Arc::clone(pipeline.store());
    let router = Router::new()
        .route("/", post(upload))
        .route("/sunspec", post(upload))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let store = Arc::clone(&ready_store);
                async move { heliograph_shared::http_edge::readiness(Some(store.as_ref())).await }
            }),
        );
    router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, deadline))
        .with_state(HttpState { pipeline, settings, memory })
}

async fn upload(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let credentials = match basic_credentials(&headers) {
        Ok(credentials) => credentials,
        Err(error) => return refusal(Some(Format::SunSpec), error),
    };
    let gateway = match state.pipeline.authenticate(&Listener::Shared, &credentials, peer).await {
        Ok(gateway) => gateway,
        Err(error) => return refusal(Some(Format::SunSpec), error),
    };
    let limit = state.settings.max_document_bytes;
    let too_large =
        || ProtocolError::new(ErrorCode::TooLarge, format!("document exceeds the limit of {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return refusal(Some(Format::SunSpec), too_large());
    }
    // The body is held whole while it is parsed: its bytes come from the memory pool.
    let Some(_memory) = state.memory.try_take(declared.unwrap_or(limit as u64)) else {
        let error = ProtocolError::new(ErrorCode::Busy, "the server is at its memory limit; retry later");
        return refusal(Some(Format::SunSpec), error);
    };
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(e) if e.source().is_some_and(|e| e.is::<http_body_util::LengthLimitError>()) => {
            return refusal(Some(Format::SunSpec), too_large());
        }
        Err(e) => {
            let error = ProtocolError::new(ErrorCode::Invalid, format!("cannot read the request body: {e}"));
            return refusal(Some(Format::SunSpec), error);
        }
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
    let code = error.code;
    let mut response = xml(status, &Answer::refused(format, None, error));
    if code == ErrorCode::Unauthorized {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"heliograph\""));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn xml(status: StatusCode, answer: &Answer) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], answer.to_xml()).into_response()
}
