//! The wire protocol, pure: XML events in, documents and answers out. No sockets here, so every
//! rule of the protocol is tested on byte strings (see `docs/protocol.md`).
//!
//! A connection's bytes are read by quick-xml as a stream of events; [`DocumentParser`] takes the
//! events of one top-level element, hands them to the parser for its format (native `<batch>` and
//! `<hello>`, or SunSpec `<sunSpecData>`), and yields a [`Document`] when the element closes.

pub mod answer;
mod document;
pub mod error;
mod known_ids;
pub mod native;
pub mod sunspec;
mod tag_template;
mod xml;

use chrono::{DateTime, Utc};
use heliograph_shared::{Device, GatewayId, GatewayToken, Reading, TimestampPolicy};

pub use answer::{Answer, RejectedReading, SunSpecResponse};
#[cfg(feature = "bench")]
pub use document::bare_event_loop;
pub use document::{Completed, DocumentParser, Progress, parse_document};
pub use error::{ErrorCode, ProtocolError};
pub use xml::{XmlEvent, attribute, local_name};

/// Which dialect a document was written in; answers are given in the same dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Heliograph's own `<hello>` and `<batch>` documents.
    Native,
    /// SunSpec Model Data Exchange (`<sunSpecData>`).
    SunSpec,
}

/// What a parser needs to know beyond the bytes.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// The server's clock, for timestamp plausibility.
    pub now: DateTime<Utc>,
    /// Which timestamps are accepted.
    pub timestamps: TimestampPolicy,
    /// Readings one document may carry.
    pub max_readings: usize,
    /// The gateway named by this connection's hello (or HTTP credentials), if any.
    pub session_gateway: Option<GatewayId>,
}

/// Credentials a document or hello carries.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The gateway id claimed.
    pub gateway: GatewayId,
    /// Its token, if sent.
    pub token: Option<GatewayToken>,
}

/// A parsed document.
#[derive(Debug, Clone)]
pub enum Document {
    /// `<hello gateway=".." token=".."/>`: authenticates the rest of the connection.
    Hello(Credentials),
    /// Readings to store, in either format.
    Readings(ReadingsDocument),
}

/// A document of readings, split into what can be stored and what must be quarantined.
#[derive(Debug, Clone)]
pub struct ReadingsDocument {
    /// The format it came in.
    pub format: Format,
    /// The gateway's sequence number, echoed in the answer.
    pub seq: Option<u64>,
    /// Credentials in the document itself (native `gateway`/`token` attributes).
    pub credentials: Option<Credentials>,
    /// Valid readings; their `gateway` is the document's or the session's gateway.
    pub readings: Vec<Reading>,
    /// Readings refused one by one, with reasons.
    pub rejected: Vec<RejectedReading>,
    /// Device descriptions (SunSpec `man`/`mod`/`sn`, native `kind`).
    pub devices: Vec<Device>,
    /// Per-record outcomes, for SunSpec's `dResult` answers.
    pub records: Vec<RecordOutcome>,
}

/// How one SunSpec `<d>` record fared.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOutcome {
    /// 1-based position of the record in the document.
    pub index: usize,
    /// The record's `t` attribute as sent.
    pub t: String,
    /// The record's `cid` attribute as sent.
    pub cid: Option<String>,
    /// Why it was refused, if it was.
    pub failure: Option<(&'static str, String)>,
}

/// The gateway id a document's readings belong to: its own attribute, else the session's.
pub(crate) fn effective_gateway(
    own: Option<&GatewayId>,
    session: Option<&GatewayId>,
) -> Result<GatewayId, ProtocolError> {
    match (own, session) {
        (Some(own), Some(session)) if own != session => Err(ProtocolError::new(
            ErrorCode::Unauthorized,
            format!("document names gateway {own} but this connection said hello as {session}"),
        )),
        (Some(id), _) | (None, Some(id)) => Ok(id.clone()),
        (None, None) => Err(ProtocolError::new(
            ErrorCode::Unauthorized,
            "no gateway named: send <hello gateway=\"…\" token=\"…\"/> first or put gateway and token on the document",
        )),
    }
}
