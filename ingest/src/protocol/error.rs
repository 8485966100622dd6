//! Why a document is refused whole; each code is part of the protocol and documented.

use std::fmt;

/// Refusal codes sent in `<nack code="…">` (and mapped to SunSpec codes and HTTP statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not well-formed XML; the connection is closed after the answer.
    Malformed,
    /// Well-formed but not a valid document (missing attribute, unknown root element…).
    Invalid,
    /// A DTD or entity declaration was sent; never processed. The connection is closed.
    DtdForbidden,
    /// Nested deeper than the limit; the connection is closed.
    TooDeep,
    /// Larger than the document size limit; the connection is closed.
    TooLarge,
    /// More readings than one document may carry.
    TooManyReadings,
    /// Unknown gateway or wrong token.
    Unauthorized,
    /// The store cannot take the data now; the gateway must keep it and retry.
    Unavailable,
    /// The document did not arrive in time (trickling or stalled sender); the connection is closed.
    Timeout,
    /// The server is shutting down; retry on a new connection.
    ShuttingDown,
    /// Too many connections are open; retry later.
    Busy,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
            Self::DtdForbidden => "dtd_forbidden",
            Self::TooDeep => "too_deep",
            Self::TooLarge => "too_large",
            Self::TooManyReadings => "too_many_readings",
            Self::Unauthorized => "unauthorized",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::ShuttingDown => "shutting_down",
            Self::Busy => "busy",
        }
    }

    /// True when the byte stream can no longer be trusted to frame documents, so the connection
    /// must close after answering.
    pub fn closes_connection(self) -> bool {
        matches!(self, Self::Malformed | Self::DtdForbidden | Self::TooDeep | Self::TooLarge | Self::Timeout)
    }

    /// The SunSpec Model Data Exchange code for the same refusal.
    pub fn sunspec_code(self) -> &'static str {
        match self {
            Self::Malformed | Self::Invalid | Self::DtdForbidden | Self::TooDeep => "INVALID_MESSAGE",
            Self::TooLarge | Self::TooManyReadings => "LIMIT_EXCEEDED",
            Self::Unauthorized => "INVALID_CREDENTIALS",
            Self::Unavailable | Self::Timeout | Self::ShuttingDown | Self::Busy => "SERVER_ERROR",
        }
    }

    /// The HTTP status for the same refusal (SunSpec over HTTP POST).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Malformed | Self::Invalid | Self::DtdForbidden | Self::TooDeep => 400,
            Self::TooLarge => 413,
            Self::TooManyReadings => 413,
            Self::Unauthorized => 401,
            Self::Unavailable | Self::ShuttingDown | Self::Busy => 503,
            Self::Timeout => 408,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document refused whole, with a reason for the gateway's operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct ProtocolError {
    /// What kind of refusal.
    pub code: ErrorCode,
    /// A human-readable reason (bounded, safe to echo).
    pub reason: String,
}

impl ProtocolError {
    /// A refusal with a reason; the reason is cut to 300 characters.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if reason.chars().count() > 300 {
            reason = reason.chars().take(300).collect::<String>() + "…";
        }
        Self { code, reason }
    }
}
