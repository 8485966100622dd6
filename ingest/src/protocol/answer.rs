//! Answers to gateways: exactly one per document, in the document's own dialect, one per line.

use std::fmt::Write as _;

use heliograph_shared::GatewayId;
use quick_xml::escape::escape;

use super::error::ProtocolError;
use super::{Format, ReadingsDocument, RecordOutcome};

/// A reading refused on its own, reported in the ack and kept in the provider's quarantine.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedReading {
    /// The device attribute as sent.
    pub device: String,
    /// The timestamp attribute as sent.
    pub ts: String,
    /// Why it was refused.
    pub reason: String,
    /// Its content, compactly (`name=value unit; …`).
    pub content: String,
}

/// SunSpec Model Data Exchange response bodies.
#[derive(Debug, Clone, PartialEq)]
pub enum SunSpecResponse {
    /// Every record stored.
    Success,
    /// The whole upload refused.
    Failure {
        /// SunSpec code, e.g. `INVALID_MESSAGE`.
        code: &'static str,
        /// Heliograph's own code, e.g. `malformed`.
        reason: String,
        /// A human-readable explanation.
        message: String,
    },
    /// Some records refused: one `dResult` per record.
    DrFailure {
        /// Every record's outcome.
        records: Vec<RecordOutcome>,
    },
}

/// One answer to a gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A hello was accepted.
    Welcome {
        /// The authenticated gateway.
        gateway: GatewayId,
    },
    /// A native document is durable: `accepted` readings stored, `rejected` quarantined.
    Ack {
        /// The document's sequence number.
        seq: Option<u64>,
        /// Readings stored.
        accepted: usize,
        /// Readings quarantined, with reasons.
        rejected: Vec<RejectedReading>,
    },
    /// A native document (or hello) refused whole.
    Nack {
        /// The document's sequence number, when it could be read.
        seq: Option<u64>,
        /// Why.
        error: ProtocolError,
    },
    /// The answer to a SunSpec upload.
    SunSpec(SunSpecResponse),
}

impl Answer {
    /// The answer for a stored document, in its dialect.
    pub fn stored(document: &ReadingsDocument) -> Self {
        match document.format {
            Format::Native => Self::Ack {
                seq: document.seq,
                accepted: document.readings.len(),
                rejected: document.rejected.clone(),
            },
            Format::SunSpec if document.records.iter().all(|r| r.failure.is_none()) => {
                Self::SunSpec(SunSpecResponse::Success)
            }
            Format::SunSpec => {
                Self::SunSpec(SunSpecResponse::DrFailure { records: document.records.clone() })
            }
        }
    }

    /// The answer for a refused document, in its dialect (native when the format is unknown).
    pub fn refused(format: Option<Format>, seq: Option<u64>, error: ProtocolError) -> Self {
        match format {
            Some(Format::SunSpec) => Self::SunSpec(SunSpecResponse::Failure {
                code: error.code.sunspec_code(),
                reason: error.code.as_str().to_owned(),
                message: error.reason,
            }),
            _ => Self::Nack { seq, error },
        }
    }

    /// The answer as one line of XML (newline-terminated).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = self.write_xml(&mut out);
        out.push('\n');
        out
    }

    fn write_xml(&self, out: &mut String) -> std::fmt::Result {
        match self {
            Self::Welcome { gateway } => {
                write!(out, r#"<welcome gateway="{}"/>"#, escape(gateway.as_str()))
            }
            Self::Ack { seq, accepted, rejected } => {
                out.push_str("<ack");
                write_seq(out, *seq)?;
                write!(out, r#" accepted="{accepted}""#)?;
                if rejected.is_empty() {
                    return out.write_str("/>");
                }
                write!(out, r#" rejected="{}">"#, rejected.len())?;
                for r in rejected {
                    write!(
                        out,
                        r#"<rejected device="{}" ts="{}" reason="{}"/>"#,
                        escape(&r.device),
                        escape(&r.ts),
                        escape(&r.reason)
                    )?;
                }
                out.write_str("</ack>")
            }
            Self::Nack { seq, error } => {
                out.push_str("<nack");
                write_seq(out, *seq)?;
                write!(out, r#" code="{}" reason="{}"/>"#, error.code, escape(&error.reason))
            }
            Self::SunSpec(response) => write_sunspec(out, response),
        }
    }
}

fn write_seq(out: &mut String, seq: Option<u64>) -> std::fmt::Result {
    match seq {
        Some(seq) => write!(out, r#" seq="{seq}""#),
        None => Ok(()),
    }
}

fn write_sunspec(out: &mut String, response: &SunSpecResponse) -> std::fmt::Result {
    out.push_str("<sunSpecDataResponse>");
    match response {
        SunSpecResponse::Success => out.push_str("<status>SUCCESS</status>"),
        SunSpecResponse::Failure { code, reason, message } => write!(
            out,
            "<status>FAILURE</status><code>{code}</code><reason>{}</reason><message>{}</message>",
            escape(reason),
            escape(message)
        )?,
        SunSpecResponse::DrFailure { records } => {
            out.push_str("<status>DR_FAILURE</status>");
            for record in records {
                write!(out, r#"<dResult id="{}" t="{}""#, record.index, escape(&record.t))?;
                if let Some(cid) = &record.cid {
                    write!(out, r#" cid="{}""#, escape(cid))?;
                }
                match &record.failure {
                    None => out.push_str("><status>SUCCESS</status></dResult>"),
                    Some((code, message)) => write!(
                        out,
                        "><status>FAILURE</status><code>{code}</code><message>{}</message></dResult>",
                        escape(message)
                    )?,
                }
            }
        }
    }
    out.write_str("</sunSpecDataResponse>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    #[test]
    fn acks_list_rejected_readings_with_escaped_reasons() {
        let answer = Answer::Ack {
            seq: Some(42),
            accepted: 2,
            rejected: vec![RejectedReading {
                device: "inv<1>".into(),
                ts: "x".into(),
                reason: "value \"NaN\" of ac_power is not finite".into(),
                content: String::new(),
            }],
        };
        assert_eq!(
            answer.to_xml(),
            "<ack seq=\"42\" accepted=\"2\" rejected=\"1\"><rejected device=\"inv&lt;1&gt;\" ts=\"x\" \
             reason=\"value &quot;NaN&quot; of ac_power is not finite\"/></ack>\n"
        );
    }

    #[test]
    fn refusals_follow_the_document_dialect() {
        let error = ProtocolError::new(ErrorCode::TooLarge, "document exceeds 1048576 bytes");
        assert_eq!(
            Answer::refused(None, Some(7), error.clone()).to_xml(),
            "<nack seq=\"7\" code=\"too_large\" reason=\"document exceeds 1048576 bytes\"/>\n"
        );
        assert_eq!(
            Answer::refused(Some(Format::SunSpec), None, error).to_xml(),
            "<sunSpecDataResponse><status>FAILURE</status><code>LIMIT_EXCEEDED</code>\
             <reason>too_large</reason><message>document exceeds 1048576 bytes</message></sunSpecDataResponse>\n"
        );
    }
}
