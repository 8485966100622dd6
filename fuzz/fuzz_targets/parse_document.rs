//! Any bytes as one document (an HTTP body): the parser answers Ok or Err, never panics, and
//! never holds more than the document's own size.
#![no_main]

use chrono::Utc;
use heliograph_ingest::protocol::{ParseContext, parse_document};
use heliograph_shared::{GatewayId, TimestampPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let context = ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy::default(),
        max_readings: 1_000,
        session_gateway: GatewayId::parse("FUZZ-1").ok(),
    };
    let _ = parse_document(data, context, 16);
});
