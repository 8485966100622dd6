//! Any bytes as a connection's stream: documents are framed and parsed one after another until
//! the stream ends or breaks, as the connection does; no input may panic the parser.
#![no_main]

use chrono::Utc;
use heliograph_ingest::protocol::{DocumentParser, ParseContext, Progress};
use heliograph_shared::{GatewayId, TimestampPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let context = ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy::default(),
        max_readings: 1_000,
        session_gateway: GatewayId::parse("FUZZ-1").ok(),
    };
    let mut parser = DocumentParser::new(context, 16);
    let mut reader = quick_xml_reader(data);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            Ok(event) => match parser.feed(&event) {
                Ok(Progress::Pending | Progress::Complete(_)) => {}
                Err(_) => break,
            },
        }
    }
});

fn quick_xml_reader(data: &[u8]) -> quick_xml::Reader<&[u8]> {
    let mut reader = quick_xml::Reader::from_reader(data);
    reader.config_mut().check_end_names = true;
    reader
}
