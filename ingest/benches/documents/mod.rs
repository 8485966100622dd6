//! The documents the parse benchmarks read. Their baseline, a bare quick-xml event loop over the
//! same bytes that does no work with the events, is the library's own
//! (`heliograph_ingest::protocol::bare_event_loop`), so that both run one compiled reader.

use chrono::{TimeDelta, Utc};
use heliograph_ingest::protocol::{Document, ParseContext, parse_document};
use heliograph_shared::{GatewayId, TimestampPolicy};

/// The benchmarked documents: (name, XML), each of 60 readings.
pub fn all() -> [(&'static str, String); 3] {
    [
        ("native_60", native_document(60)),
        ("sunspec_60", sunspec_document(60)),
        ("sunspec_models_60", sunspec_models_document(60)),
    ]
}

/// A document of one-minute records from two days ago, each written by `record(i, timestamp)`
/// between the root's `open` and `close` tags.
fn document(open: &str, close: &str, records: usize, record: impl Fn(usize, &str) -> String) -> String {
    let base = Utc::now() - TimeDelta::days(2);
    let mut text = String::from(open);
    for i in 0..records {
        let ts = (base + TimeDelta::minutes(i as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        text.push_str(&record(i, &ts));
    }
    text.push_str(close);
    text
}

fn native_document(readings: usize) -> String {
    document("<batch gateway=\"GW-0001\" seq=\"42\">", "</batch>", readings, |i, ts| {
        format!(
            "<reading device=\"inv-1\" ts=\"{ts}\"><ac_power unit=\"W\">{}.5</ac_power>\
             <energy unit=\"kWh\">{}.125</energy><ac_voltage unit=\"V\">230.1</ac_voltage>\
             <ac_current unit=\"A\">5.2</ac_current><frequency unit=\"Hz\">50.01</frequency>\
             <temperature unit=\"C\">41.5</temperature><status>producing</status></reading>",
            1000 + i,
            9000 + i
        )
    })
}

fn sunspec_document(records: usize) -> String {
    document("<sunSpecData v=\"1\">", "</sunSpecData>", records, |i, t| {
        format!(
            "<d lid=\"11:22:33:44:55:66\" man=\"gsc\" mod=\"r300\" sn=\"123456\" t=\"{t}\" cid=\"{i}\">\
             <m id=\"101\" x=\"1\"><p id=\"A\" sf=\"-2\">3043</p><p id=\"PhVphA\">2216</p><p id=\"V_SF\">-1</p>\
             <p id=\"W\">{}</p><p id=\"Hz\">60.01</p><p id=\"WH\">{}</p><p id=\"DCA\">14.28</p>\
             <p id=\"DCV\">469</p><p id=\"DCW\">6805</p><p id=\"TmpCab\">32.94</p><p id=\"St\">4</p></m></d>",
            6000 + i,
            126_973 + i
        )
    })
}

/// Records as data loggers send them for a whole device: the common model, an inverter model
/// and an MPPT model with two modules, 24 points in three models.
fn sunspec_models_document(records: usize) -> String {
    document("<sunSpecData v=\"1\">", "</sunSpecData>", records, |i, t| {
        format!(
            "<d lid=\"11:22:33:44:55:66\" t=\"{t}\" cid=\"{i}\">\
             <m id=\"1\"><p id=\"Mn\">gsc</p><p id=\"Md\">r300</p><p id=\"SN\">123456</p><p id=\"Vr\">1.2.3</p></m>\
             <m id=\"101\" x=\"1\"><p id=\"A\" sf=\"-2\">3043</p><p id=\"PhVphA\">2216</p><p id=\"V_SF\">-1</p>\
             <p id=\"W\">{}</p><p id=\"Hz\">60.01</p><p id=\"WH\">{}</p><p id=\"DCA\">14.28</p>\
             <p id=\"DCV\">469</p><p id=\"TmpCab\">32.94</p><p id=\"St\">4</p></m>\
             <m id=\"160\"><p id=\"DCA_SF\">-2</p><p id=\"DCV_SF\">-1</p><p id=\"DCW_SF\">0</p><p id=\"N\">2</p>\
             <p id=\"ID\" x=\"1\">1</p><p id=\"DCA\" x=\"1\">714</p><p id=\"DCV\" x=\"1\">4690</p><p id=\"DCW\" x=\"1\">{}</p>\
             <p id=\"ID\" x=\"2\">2</p><p id=\"DCA\" x=\"2\">712</p><p id=\"DCV\" x=\"2\">4688</p><p id=\"DCW\" x=\"2\">{}</p></m></d>",
            6000 + i,
            126_973 + i,
            3400 + i,
            3395 + i
        )
    })
}

/// The context a gateway's session gives its documents.
pub fn context() -> ParseContext {
    ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy::default(),
        max_readings: 100_000,
        session_gateway: Some(GatewayId::parse("GW-0001").unwrap()),
    }
}

/// Heliograph's parse of a whole document, as an HTTP upload is parsed.
pub fn parse(bytes: &[u8]) -> Result<Document, heliograph_ingest::protocol::ProtocolError> {
    parse_document(bytes, context(), 16).0
}

/// Checks that `document` parses into 60 readings, none refused: a benchmark of a parse that
/// fails early would measure nothing.
pub fn check(name: &str, document: &str) {
    match parse(document.as_bytes()) {
        Ok(Document::Readings(readings)) => {
            assert_eq!(readings.readings.len(), 60, "{name}: {:?}", readings.rejected)
        }
        other => panic!("{name} parses into readings: {other:?}"),
    }
}
