//! The ingest server's Prometheus metrics, named in one place. Recorded through the `metrics`
//! facade; the process installs the exporter and serves `/metrics`.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::protocol::{Answer, ErrorCode, SunSpecResponse};

/// Connections open now.
pub const CONNECTIONS_OPEN: &str = "heliograph_ingest_connections_open";
/// Connections accepted, by listener.
pub const CONNECTIONS: &str = "heliograph_ingest_connections_total";
/// Documents answered, by provider, format and outcome (`accepted` or a refusal code).
pub const DOCUMENTS: &str = "heliograph_ingest_documents_total";
/// Readings, by provider and outcome (`accepted`, `quarantined`).
pub const READINGS: &str = "heliograph_ingest_readings_total";
/// Seconds from a document's last byte to its answer being written.
pub const ACK_SECONDS: &str = "heliograph_ingest_ack_seconds";
/// Seconds a store write took, by backend.
pub const STORE_WRITE_SECONDS: &str = "heliograph_store_write_seconds";
/// Bytes waiting in the spool.
pub const SPOOL_BYTES: &str = "heliograph_ingest_spool_bytes";
/// Bytes of torn or corrupt spool tails cut off (never acknowledged).
pub const SPOOL_TAIL_CUT_BYTES: &str = "heliograph_ingest_spool_tail_cut_bytes_total";
/// Spooled records stored by the replay.
pub const SPOOL_REPLAYED: &str = "heliograph_ingest_spool_replayed_total";
/// Spooled records set aside in the dead letters (refused for good by the store, or damaged).
pub const SPOOL_DEAD_LETTERS: &str = "heliograph_ingest_spool_dead_letters_total";
/// Gateways refused at authentication, by reason.
pub const GATEWAYS_REFUSED: &str = "heliograph_ingest_gateways_refused_total";

/// Histogram buckets for latencies, seconds (0.5 ms … 10 s).
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counts one answered document.
pub fn document_answered(provider: Option<&str>, answer: &Answer, elapsed: Duration) {
    let (format, outcome) = match answer {
        Answer::Welcome { .. } => return,
        Answer::Ack { .. } => ("native", "accepted"),
        Answer::Nack { error, .. } => ("native", error.code.as_str()),
        Answer::SunSpec(SunSpecResponse::Success | SunSpecResponse::DrFailure { .. }) => {
            ("sunspec", "accepted")
        }
        Answer::SunSpec(SunSpecResponse::Failure { reason, .. }) => ("sunspec", refusal_label(reason)),
    };
    let provider = provider.unwrap_or("unknown").to_owned();
    counter!(DOCUMENTS, "provider" => provider, "format" => format, "outcome" => outcome).increment(1);
    histogram!(ACK_SECONDS).record(elapsed.as_secs_f64());
}

/// Counts a document's readings.
pub fn readings_stored(provider: &str, accepted: usize, quarantined: usize) {
    counter!(READINGS, "provider" => provider.to_owned(), "outcome" => "accepted").increment(accepted as u64);
    if quarantined > 0 {
        counter!(READINGS, "provider" => provider.to_owned(), "outcome" => "quarantined")
            .increment(quarantined as u64);
    }
}

/// Records how long a store write took.
pub fn store_write(backend: &'static str, elapsed: Duration) {
    histogram!(STORE_WRITE_SECONDS, "backend" => backend).record(elapsed.as_secs_f64());
}

/// A connection opened (`+1`) or closed (`-1`).
pub fn connection(listener: &'static str, delta: f64) {
    if delta > 0.0 {
        counter!(CONNECTIONS, "listener" => listener).increment(1);
    }
    gauge!(CONNECTIONS_OPEN).increment(delta);
}

/// Sets the spool depth.
pub fn spool_depth(bytes: u64) {
    gauge!(SPOOL_BYTES).set(bytes as f64);
}

/// Counts bytes cut off a spool segment's tail.
pub fn spool_tail_cut(bytes: u64) {
    counter!(SPOOL_TAIL_CUT_BYTES).increment(bytes);
}

/// Counts spooled records stored by the replay.
pub fn spool_replayed(records: u64) {
    counter!(SPOOL_REPLAYED).increment(records);
}

/// Counts a spooled record set aside in the dead letters.
pub fn spool_dead_letter() {
    counter!(SPOOL_DEAD_LETTERS).increment(1);
}

/// Counts a refused gateway.
pub fn gateway_refused(reason: &'static str) {
    counter!(GATEWAYS_REFUSED, "reason" => reason).increment(1);
}

fn refusal_label(reason: &str) -> &'static str {
    const CODES: [ErrorCode; 11] = [
        ErrorCode::Malformed,
        ErrorCode::Invalid,
        ErrorCode::DtdForbidden,
        ErrorCode::TooDeep,
        ErrorCode::TooLarge,
        ErrorCode::TooManyReadings,
        ErrorCode::Unauthorized,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::ShuttingDown,
        ErrorCode::Busy,
    ];
    CODES.iter().find(|c| c.as_str() == reason).map_or("other", |c| c.as_str())
}
