//! The SunSpec parser driven the way a connection drives it: quick-xml events fed one by one into
//! a [`DocumentParser`], on the real documents in `fixtures/sunspec` and on hand-written ones.

use chrono::{DateTime, TimeZone, Utc};
use heliograph_shared::{
    Device, DeviceKind, DeviceStatus, GatewayId, Metric, Metrics, Reading, TimestampPolicy,
};
use quick_xml::events::Event;

use super::record::DATED_ON_RECEIPT;
use crate::protocol::{
    Answer, Document, DocumentParser, ErrorCode, Format, ParseContext, ProtocolError, ReadingsDocument,
    RecordOutcome, SunSpecResponse,
};

const GOSUNSPEC_V_SF: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_gosunspec_modified_with_V_SF_point.xml");
const SPEC_PAGE_10: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_sdx_spec_page10_inverter101.xml");
const POWERONE_ENVIRO: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_jdblair_powerone_enviro_302_303_307.xml");
const VERIS_METER: &str = include_str!("../../../../fixtures/sunspec/sunspec_jdblair_veris_e51_meter202.xml");
const PYSUNSPEC_MINIMAL: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_pysunspec_minimal_model1.xml");
const RESPONSE_SUCCESS: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_response_jdblair_success.xml");
const RESPONSE_FAILURE: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_response_jdblair_failure.xml");
const RESPONSE_DR_FAILURE: &str =
    include_str!("../../../../fixtures/sunspec/sunspec_response_jdblair_dr_failure.xml");

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("test timestamps are RFC 3339").with_timezone(&Utc)
}

/// A context whose clock is after every sample's date.
fn context() -> ParseContext {
    ParseContext {
        now: Utc.with_ymd_and_hms(2014, 1, 1, 0, 0, 0).single().expect("valid date"),
        timestamps: TimestampPolicy::default(),
        max_readings: 100,
        session_gateway: Some(GatewayId::parse("LOGGER-1").expect("valid gateway id")),
    }
}

/// Feeds a document's events to a [`DocumentParser`] until it completes, like the connection.
fn parse_in(xml: &str, context: ParseContext) -> Result<Document, ProtocolError> {
    let mut reader = quick_xml::Reader::from_reader(xml.as_bytes());
    reader.config_mut().check_end_names = true;
    let mut parser = DocumentParser::new(context, 16);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let event = reader.read_event_into(&mut buf).expect("test documents are well-formed");
        assert!(!matches!(event, Event::Eof), "the document ended before its root element closed");
        if let crate::protocol::Progress::Complete(done) = parser.feed(&event)? {
            assert_eq!(done.format, Some(Format::SunSpec));
            return done.outcome;
        }
    }
}

fn parse(xml: &str) -> ReadingsDocument {
    match parse_in(xml, context()) {
        Ok(Document::Readings(document)) => document,
        other => panic!("not a readings document: {other:?}"),
    }
}

fn refusal(xml: &str) -> ProtocolError {
    match parse_in(xml, context()) {
        Err(error) => error,
        Ok(document) => panic!("accepted: {document:?}"),
    }
}

/// The one reading of a document that must have stored exactly one.
fn only_reading(document: &ReadingsDocument) -> &Reading {
    assert!(document.rejected.is_empty(), "{:?}", document.rejected);
    assert_eq!(document.readings.len(), 1, "{document:?}");
    &document.readings[0]
}

fn only_device(document: &ReadingsDocument) -> &Device {
    assert_eq!(document.devices.len(), 1, "{:?}", document.devices);
    &document.devices[0]
}

#[track_caller]
fn assert_close(actual: Option<f64>, expected: f64) {
    let actual = actual.unwrap_or(f64::NAN);
    assert!((actual - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{actual} != {expected}");
}

#[track_caller]
fn assert_extra(metrics: &Metrics, name: &str, expected: f64) {
    assert_close(metrics.extra.get(name).copied(), expected);
}

/// A document of one record at a recent time, with the given models.
fn record(models: &str) -> String {
    format!("<sunSpecData v=\"1\"><d sn=\"INV1\" t=\"2013-06-01T12:00:00Z\">{models}</d></sunSpecData>")
}

/// The ac_power, dc_power… every inverter sample has, hand-computed from the raw points.
#[track_caller]
fn assert_spec_inverter(document: &ReadingsDocument) {
    let reading = only_reading(document);
    assert_eq!(reading.gateway.as_str(), "LOGGER-1");
    assert_eq!(reading.device.as_str(), "123456");
    assert_eq!(reading.ts, at("2011-05-12T09:21:49Z"));
    assert_eq!(reading.status, Some(DeviceStatus::Producing));
    let m = &reading.metrics;
    assert_close(m.get(Metric::AcCurrent), 30.43);
    assert_close(m.get(Metric::AcVoltage), 221.6);
    assert_close(m.get(Metric::AcPower), 6701.3);
    assert_close(m.get(Metric::Frequency), 60.01);
    assert_close(m.get(Metric::Energy), 126_973.0);
    assert_close(m.get(Metric::DcCurrent), 14.28);
    assert_close(m.get(Metric::DcVoltage), 469.0);
    assert_close(m.get(Metric::DcPower), 6805.0);
    assert_close(m.get(Metric::Temperature), 32.94);
    assert!(m.extra.is_empty(), "{:?}", m.extra);
    let device = only_device(document);
    assert_eq!(
        (device.kind, device.manufacturer.as_deref(), device.model.as_deref()),
        (DeviceKind::Inverter, Some("gsc"), Some("r300"))
    );
    assert_eq!(device.serial.as_deref(), Some("123456"));
    assert_eq!(device.last_seen, Some(reading.ts));
    assert_eq!(
        document.records,
        vec![RecordOutcome {
            index: 1,
            t: "2011-05-12T09:21:49Z".to_owned(),
            cid: Some("2".to_owned()),
            failure: None,
        }]
    );
}

#[test]
fn the_spec_page_10_inverter_with_an_sf_attribute_is_one_canonical_reading() {
    let document = parse(SPEC_PAGE_10);
    assert_eq!(document.format, Format::SunSpec);
    assert_eq!(document.seq, None);
    assert_spec_inverter(&document);
}

#[test]
fn a_v_sf_point_after_the_voltage_it_scales_still_scales_it() {
    // A 3043 with sf="-2" and PhVphA 2216 with a later <p id="V_SF">-1</p>; W in u="Watts".
    assert_spec_inverter(&parse(GOSUNSPEC_V_SF));
}

#[test]
fn the_powerone_met_station_maps_irradiance_and_module_temperature_and_keeps_the_rest() {
    let document = parse(POWERONE_ENVIRO);
    let reading = only_reading(&document);
    assert_eq!(reading.device.as_str(), "d1", "no sn, SN \"?\" is no device id, no lid");
    assert_eq!(reading.ts, at("2012-04-11T06:10:56Z"));
    assert_eq!(reading.status, None);
    let m = &reading.metrics;
    assert_close(m.get(Metric::Irradiance), 0.0);
    assert_close(m.get(Metric::Temperature), -40.0);
    assert_extra(m, "302.GHI.1", 0.0);
    assert_extra(m, "303.TmpBOM.2", -40.0);
    assert_extra(m, "307.TmpAmb", 11.2);
    assert_extra(m, "307.WndSpd", 0.0);
    assert_extra(m, "307.WndDir", 112.0);
    assert_extra(m, "1.DA", 60.0);
    assert_eq!(m.extra.len(), 6, "Opt and Vr are text, POAI.1 and TmpBOM.1 are canonical: {:?}", m.extra);
    let device = only_device(&document);
    assert_eq!(device.kind, DeviceKind::IrradianceSensor);
    assert_eq!(device.manufacturer.as_deref(), Some("Power-One"));
    assert_eq!(device.model.as_deref(), Some("VSN-ENVIRO-CMML"));
    assert_eq!(device.serial.as_deref(), Some("?"));
}

#[test]
fn the_veris_meter_keeps_its_export_sign_and_names_itself_by_the_common_model_serial() {
    let document = parse(VERIS_METER);
    let reading = only_reading(&document);
    assert_eq!(reading.device.as_str(), "4E33EAA6");
    let m = &reading.metrics;
    assert_close(m.get(Metric::AcPower), -3750.0);
    assert_close(m.get(Metric::AcCurrent), 31.9);
    assert_close(m.get(Metric::AcVoltage), 122.8);
    assert_close(m.get(Metric::Frequency), 60.02);
    assert_close(m.get(Metric::ExportEnergy), 2_958_200.0);
    assert_close(m.get(Metric::ImportEnergy), 0.0);
    assert_eq!(m.get(Metric::Energy), None);
    assert_extra(m, "202.PhVphA", 123.6);
    assert_extra(m, "202.AphA", 21.6);
    assert_extra(m, "202.WphB", -1100.0);
    assert_extra(m, "202.PF", -0.9994);
    assert_extra(m, "202.TotVArhImpQ2", 290_100.0);
    assert_extra(m, "202.Evt", 0.0);
    assert_extra(m, "1.DA", 1.0);
    assert!(!m.extra.contains_key("1.Vr"), "a version is text");
    let device = only_device(&document);
    assert_eq!(device.kind, DeviceKind::Meter);
    assert_eq!(device.manufacturer.as_deref(), Some("Veris Industries"));
    assert_eq!(device.model.as_deref(), Some("E51C2"));
    assert_eq!(device.serial.as_deref(), Some("4E33EAA6"));
}

#[test]
fn pysunspecs_minimal_document_keeps_unknown_common_points_as_extras() {
    let document = parse(PYSUNSPEC_MINIMAL);
    let reading = only_reading(&document);
    assert_eq!(reading.device.as_str(), "SN");
    assert_eq!(reading.ts, at("2013-12-20T17:29:24Z"));
    assert_extra(&reading.metrics, "1.P1", 23.0);
    assert_extra(&reading.metrics, "1.P2", 24.0);
    let device = only_device(&document);
    assert_eq!(device.kind, DeviceKind::Other);
    assert_eq!((device.manufacturer.as_deref(), device.model.as_deref()), (Some("Man"), Some("Mod")));
    assert_eq!(document.records[0].cid, None);
}

#[test]
fn a_stored_document_is_answered_exactly_like_the_jdblair_success_response() {
    let answer = Answer::stored(&parse(SPEC_PAGE_10));
    assert_eq!(answer, Answer::SunSpec(SunSpecResponse::Success));
    assert_eq!(answer.to_xml().trim(), body(RESPONSE_SUCCESS));
}

#[test]
fn a_refused_document_is_answered_with_the_jdblair_failure_elements_in_order() {
    let error = refusal("<sunSpecData><d t=\"2013-06-01T12:00:00Z\"><x/></d></sunSpecData>");
    assert_eq!(error.code, ErrorCode::Invalid);
    let ours = Answer::refused(Some(Format::SunSpec), None, error).to_xml();
    assert_eq!(element_names(&ours), element_names(body(RESPONSE_FAILURE)));
    assert!(ours.contains("<code>INVALID_MESSAGE</code>"), "{ours}");
}

#[test]
fn a_partly_refused_document_starts_like_the_jdblair_dr_failure_response() {
    let upload = SPEC_PAGE_10.replace("t=\"2011-05-12T09:21:49Z\"", "t=\"2011-05-12T09:21:49\"");
    let document = parse(&upload);
    let answer = Answer::stored(&document).to_xml();
    // jdblair puts the failure detail after </dResult>; Heliograph puts it inside.
    let theirs = body(RESPONSE_DR_FAILURE).replace("2011-05-12T09:21:49Z", "2011-05-12T09:21:49");
    let common = "<sunSpecDataResponse><status>DR_FAILURE</status>\
                  <dResult id=\"1\" t=\"2011-05-12T09:21:49\" cid=\"2\"><status>FAILURE</status>";
    assert!(theirs.starts_with(common), "{theirs}");
    assert!(answer.starts_with(common), "{answer}");
    assert!(answer.contains("<code>INVALID_MESSAGE</code><message>timestamp"), "{answer}");
}

/// A response sample without its source comment.
fn body(sample: &str) -> &str {
    sample.rsplit_once("-->").map_or(sample, |(_, body)| body).trim()
}

fn element_names(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut names = Vec::new();
    loop {
        match reader.read_event().expect("well-formed answer") {
            Event::Start(e) => names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned()),
            Event::Eof => return names,
            _ => {}
        }
    }
}

#[test]
fn a_record_with_a_bad_timestamp_is_refused_alone_and_answered_in_a_dr_failure() {
    let document = parse(
        "<sunSpecData v=\"1\">\
         <d sn=\"INV7\" t=\"2013-06-01T12:00:00Z\" cid=\"1\"><m id=\"101\"><p id=\"W\">100</p></m></d>\
         <d sn=\"INV8\" t=\"never\" cid=\"9\"><m id=\"101\"><p id=\"W\">100</p><p id=\"St\">4</p></m></d>\
         <d sn=\"INV9\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\" sf=\"1\">20</p></m></d>\
         </sunSpecData>",
    );
    let devices: Vec<&str> = document.readings.iter().map(|r| r.device.as_str()).collect();
    assert_eq!(devices, ["INV7", "INV9"]);
    assert_close(document.readings[1].metrics.get(Metric::AcPower), 200.0);
    let reason = "timestamp \"never\" is not RFC 3339 (e.g. 2026-11-22T10:00:00Z)";
    assert_eq!(document.rejected.len(), 1);
    let rejected = &document.rejected[0];
    assert_eq!((rejected.device.as_str(), rejected.ts.as_str()), ("INV8", "never"));
    assert_eq!(rejected.reason, reason);
    assert_eq!(rejected.content, "101.W=100; 101.St=4");
    let failures: Vec<_> = document.records.iter().map(|r| r.failure.clone()).collect();
    assert_eq!(failures, [None, Some(("INVALID_MESSAGE", reason.to_owned())), None]);
    assert_eq!(
        Answer::stored(&document).to_xml(),
        "<sunSpecDataResponse><status>DR_FAILURE</status>\
         <dResult id=\"1\" t=\"2013-06-01T12:00:00Z\" cid=\"1\"><status>SUCCESS</status></dResult>\
         <dResult id=\"2\" t=\"never\" cid=\"9\"><status>FAILURE</status><code>INVALID_MESSAGE</code>\
         <message>timestamp &quot;never&quot; is not RFC 3339 (e.g. 2026-11-22T10:00:00Z)</message></dResult>\
         <dResult id=\"3\" t=\"2013-06-01T12:00:00Z\"><status>SUCCESS</status></dResult>\
         </sunSpecDataResponse>\n"
    );
}

#[test]
fn implausible_timestamps_refuse_their_record() {
    let document = parse(
        "<sunSpecData><d sn=\"B\" t=\"2030-01-01T00:00:00Z\"><m id=\"101\"><p id=\"W\">1</p></m></d>\
         <d sn=\"C\" t=\"1999-12-31T23:59:59Z\"><m id=\"101\"><p id=\"W\">1</p></m></d></sunSpecData>",
    );
    assert!(document.readings.is_empty());
    assert!(document.devices.is_empty(), "refused records describe nothing");
    let reasons: Vec<&str> = document.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons[0].contains("in the future"), "{}", reasons[0]);
    assert!(reasons[1].contains("is before"), "{}", reasons[1]);
}

/// What loggers in the field send: a `t` with a space and no zone (UTC), a record without `t`
/// (dated when received, and marked so), devices named with `id`, models named by a word, and
/// values and scale factors with whitespace around them.
#[test]
fn a_loggers_dialect_is_stored_not_refused() {
    let document = parse(
        "<sunSpecData>\
         <d id=\"WR-1\" t=\"2013-06-01 12:00:00\"><m id=\"common\"><p id=\"Mn\">acme</p></m>\
         <m id=\"inverter\"><p id=\"W\" sf=\" -1 \">\n  67013 \n</p><p id=\"WH\"> 1200 </p></m></d>\
         <d id=\"Zähler 2\"><m id=\"ac_meter\"><p id=\"W\">-300</p></m></d>\
         </sunSpecData>",
    );
    assert!(document.rejected.is_empty(), "{:?}", document.rejected);
    let [inverter, meter] = &document.readings[..] else { panic!("two readings: {:?}", document.readings) };
    assert_eq!(inverter.device.as_str(), "WR-1", "named by its id attribute");
    assert_eq!(inverter.ts, Utc.with_ymd_and_hms(2013, 6, 1, 12, 0, 0).single().expect("valid"), "UTC");
    assert_close(inverter.metrics.get(Metric::AcPower), 6701.3);
    assert_close(inverter.metrics.get(Metric::Energy), 1200.0);
    assert_eq!(inverter.metrics.extra.get(DATED_ON_RECEIPT), None);
    assert_eq!(meter.ts, context().now, "no t: dated when received");
    assert_eq!(meter.metrics.extra.get(DATED_ON_RECEIPT), Some(&1.0), "and marked so");
    assert_close(meter.metrics.get(Metric::AcPower), -300.0);
    assert_eq!(document.records[1].t, "", "its answer echoes no t");
    let kinds: Vec<DeviceKind> = document.devices.iter().map(|d| d.kind).collect();
    assert!(kinds.contains(&DeviceKind::Inverter) && kinds.contains(&DeviceKind::Meter), "{kinds:?}");
}

#[test]
fn a_nan_point_refuses_its_record_whether_canonical_or_extra() {
    let document = parse(
        "<sunSpecData>\
         <d sn=\"A\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">NaN</p></m></d>\
         <d sn=\"B\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">1</p><p id=\"VA\">inf</p></m></d>\
         <d sn=\"C\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\" sf=\"10\">1e3</p></m></d>\
         </sunSpecData>",
    );
    assert!(document.readings.is_empty());
    let reasons: Vec<&str> = document.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "101.W: value of ac_power is not finite",
            "value of 101.VA is not finite",
            "101.W: value 10000000000000 of ac_power is out of range (|value| must be at most 1e12)",
        ]
    );
    assert!(document.records.iter().all(|r| r.failure.is_some()));
}

#[test]
fn words_where_a_model_defines_a_number_refuse_the_record() {
    let document = parse(&record("<m id=\"101\"><p id=\"W\">100</p><p id=\"VA\">lots</p></m>"));
    assert_eq!(document.rejected[0].reason, "value \"lots\" of 101.VA is not a number");
}

#[test]
fn unknown_models_keep_their_numbers_as_extras_and_ignore_their_text() {
    let document = parse(&record(
        "<m id=\"64001\" x=\"1\"><p id=\"Foo\">12</p><p id=\"Bar\" x=\"3\">4</p>\
         <p id=\"Name\">pump house</p><p id=\"Pwr\">7</p><p id=\"Pwr_SF\">2</p></m>",
    ));
    let reading = only_reading(&document);
    let m = &reading.metrics;
    assert_extra(m, "64001.Foo", 12.0);
    assert_extra(m, "64001.Bar.3", 4.0);
    assert_extra(m, "64001.Pwr", 700.0);
    assert_eq!(m.extra.len(), 3, "{:?}", m.extra);
    assert_eq!(m.iter().count(), 0, "no canonical metric from an unknown model");
    assert_eq!(only_device(&document).kind, DeviceKind::Other);
}

#[test]
fn mppt_modules_are_kept_per_repeat_and_their_power_sums_into_dc_power() {
    let mppt = "<m id=\"160\"><p id=\"DCA_SF\">-2</p><p id=\"DCV_SF\">-1</p><p id=\"DCW_SF\">0</p>\
                <p id=\"N\">2</p>\
                <p id=\"ID\" x=\"1\">1</p><p id=\"IDStr\" x=\"1\">String 1</p><p id=\"DCA\" x=\"1\">512</p>\
                <p id=\"DCV\" x=\"1\">3805</p><p id=\"DCW\" x=\"1\">1948</p>\
                <p id=\"ID\" x=\"2\">2</p><p id=\"IDStr\" x=\"2\">String 2</p><p id=\"DCA\" x=\"2\">498</p>\
                <p id=\"DCV\" x=\"2\">3790</p><p id=\"DCW\" x=\"2\">1890</p></m>";
    let document = parse(&record(mppt));
    let reading = only_reading(&document);
    let m = &reading.metrics;
    assert_close(m.get(Metric::DcPower), 3838.0);
    assert_extra(m, "160.DCA.1", 5.12);
    assert_extra(m, "160.DCA.2", 4.98);
    assert_extra(m, "160.DCV.1", 380.5);
    assert_extra(m, "160.DCW.2", 1890.0);
    assert_extra(m, "160.ID.2", 2.0);
    assert_extra(m, "160.N", 2.0);
    assert!(!m.extra.keys().any(|k| k.contains("IDStr") || k.ends_with("_SF")));
    assert_eq!(only_device(&document).kind, DeviceKind::StringMonitor);

    let with_inverter =
        parse(&record(&format!("<m id=\"103\"><p id=\"DCW\">3700</p><p id=\"W\">3600</p></m>{mppt}")));
    let reading = only_reading(&with_inverter);
    assert_close(reading.metrics.get(Metric::DcPower), 3700.0);
    assert_eq!(only_device(&with_inverter).kind, DeviceKind::Inverter);
}

#[test]
fn float_inverter_models_map_like_integer_ones_and_prefer_the_cabinet_temperature() {
    let document = parse(&record(
        "<m id=\"113\"><p id=\"W\" u=\"kW\">3.5</p><p id=\"PhV\">230.1</p><p id=\"Hz\" u=\"furlongs\">50</p>\
         <p id=\"TmpOt\">20</p><p id=\"TmpSnk\">41</p><p id=\"TmpCab\">35.5</p><p id=\"St\">7</p></m>",
    ));
    let reading = only_reading(&document);
    let m = &reading.metrics;
    assert_close(m.get(Metric::AcPower), 3500.0);
    assert_close(m.get(Metric::AcVoltage), 230.1);
    assert_close(m.get(Metric::Frequency), 50.0);
    assert_close(m.get(Metric::Temperature), 35.5);
    assert_extra(m, "113.TmpSnk", 41.0);
    assert_extra(m, "113.TmpOt", 20.0);
    assert_eq!(reading.status, Some(DeviceStatus::Fault));
}

#[test]
fn an_sf_attribute_overrides_the_sibling_scale_factor() {
    let document = parse(&record(
        "<m id=\"101\"><p id=\"W_SF\">3</p><p id=\"W\" sf=\"1\">5</p><p id=\"WH\">7</p><p id=\"WH_SF\">2</p>\
         <p id=\"AphA\">123</p><p id=\"A_SF\">-1</p><p id=\"TmpCab\">455</p><p id=\"Tmp_SF\">-1</p></m>",
    ));
    let m = &only_reading(&document).metrics;
    assert_close(m.get(Metric::AcPower), 50.0);
    assert_close(m.get(Metric::Energy), 700.0);
    assert_close(m.get(Metric::Temperature), 45.5);
    assert_extra(m, "101.AphA", 12.3);
}

#[test]
fn scale_factors_outside_minus_ten_to_ten_or_not_whole_refuse_the_record() {
    for models in [
        "<m id=\"101\"><p id=\"W\" sf=\"11\">5</p></m>",
        "<m id=\"101\"><p id=\"W\">5</p><p id=\"W_SF\">-32768</p></m>",
        "<m id=\"101\"><p id=\"W\" sf=\"0.5\">5</p></m>",
    ] {
        let document = parse(&record(models));
        assert!(document.readings.is_empty(), "{models}");
        assert!(
            document.rejected[0].reason.contains("is not a whole number from -10 to 10"),
            "{}",
            document.rejected[0].reason
        );
    }
    let unused = parse(&record("<m id=\"101\"><p id=\"W\">5</p><p id=\"VA_SF\">-32768</p></m>"));
    assert_eq!(unused.readings.len(), 1, "an unused scale factor is harmless");
    for (sf, watts) in [("10", 5e10), ("-10", 5e-10), ("+2", 500.0), (" -2.0 ", 0.05), ("1e1", 5e10)] {
        let models = format!("<m id=\"101\"><p id=\"W\" sf=\"{sf}\">5</p></m>");
        let document = parse(&record(&models));
        assert_close(only_reading(&document).metrics.get(Metric::AcPower), watts);
    }
}

#[test]
fn several_models_merge_into_one_reading_the_first_model_winning_a_metric() {
    let document = parse(&record(
        "<m id=\"1\"><p id=\"Mn\">Fronius</p><p id=\"Md\">Symo</p><p id=\"SN\">99</p></m>\
         <m id=\"101\"><p id=\"W\">4000</p><p id=\"TmpCab\">40</p></m>\
         <m id=\"203\"><p id=\"W\">-1200</p><p id=\"TotWhExp\">5000</p></m>\
         <m id=\"303\"><p id=\"TmpBOM\" x=\"1\">55</p></m>",
    ));
    let reading = only_reading(&document);
    assert_eq!(reading.device.as_str(), "INV1", "the sn attribute comes first");
    let m = &reading.metrics;
    assert_close(m.get(Metric::AcPower), 4000.0);
    assert_extra(m, "203.W", -1200.0);
    assert_close(m.get(Metric::ExportEnergy), 5000.0);
    assert_close(m.get(Metric::Temperature), 40.0);
    assert_extra(m, "303.TmpBOM.1", 55.0);
    let device = only_device(&document);
    assert_eq!(device.kind, DeviceKind::Inverter);
    assert_eq!(device.manufacturer.as_deref(), Some("Fronius"));
    assert_eq!(device.serial.as_deref(), Some("INV1"), "attributes first");
}

#[test]
fn device_ids_fall_back_from_sn_to_the_common_serial_to_lid_to_the_record_index() {
    let document = parse(
        "<sunSpecData>\
         <d sn=\"bad serial\" t=\"2013-06-01T12:00:00Z\"><m id=\"1\"><p id=\"SN\">AB-12</p></m><m id=\"101\"><p id=\"W\">1</p></m></d>\
         <d lid=\"11:22:33:44:55:66\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">1</p></m></d>\
         <d lid=\"not a lid\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">1</p></m></d>\
         </sunSpecData>",
    );
    let devices: Vec<&str> = document.readings.iter().map(|r| r.device.as_str()).collect();
    assert_eq!(devices, ["AB-12", "11:22:33:44:55:66", "d3"]);
    assert_eq!(document.devices[0].serial.as_deref(), Some("bad serial"));
}

#[test]
fn one_device_description_per_device_last_seen_at_its_latest_record() {
    let document = parse(
        "<sunSpecData>\
         <d sn=\"INV1\" t=\"2013-06-01T12:05:00Z\"><m id=\"101\"><p id=\"W\">2</p></m></d>\
         <d sn=\"INV1\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">1</p></m></d>\
         </sunSpecData>",
    );
    assert_eq!(document.readings.len(), 2);
    assert_eq!(only_device(&document).last_seen, Some(at("2013-06-01T12:05:00Z")));
}

#[test]
fn status_accepts_sunspec_state_names_and_refuses_impossible_numbers() {
    let named = parse(&record("<m id=\"101\"><p id=\"St\">THROTTLED</p></m>"));
    assert_eq!(only_reading(&named).status, Some(DeviceStatus::Throttled));
    let impossible = parse(&record("<m id=\"101\"><p id=\"St\">-1</p></m>"));
    assert_eq!(impossible.rejected[0].reason, "101.St \"-1\" is not a SunSpec operating state");
}

#[test]
fn a_missing_session_gateway_refuses_the_document_as_unauthorized() {
    let context = ParseContext { session_gateway: None, ..context() };
    let error = parse_in(SPEC_PAGE_10, context).expect_err("no hello, no gateway");
    assert_eq!(error.code, ErrorCode::Unauthorized);
}

#[test]
fn an_empty_upload_is_valid_and_stores_nothing() {
    let document = parse("<sunSpecData v=\"1\"/>");
    assert!(document.readings.is_empty() && document.records.is_empty());
    assert_eq!(Answer::stored(&document), Answer::SunSpec(SunSpecResponse::Success));
    assert!(parse("<sunspecdata>\n</sunspecdata>").records.is_empty());
}

#[test]
fn more_records_than_allowed_refuse_the_document() {
    let context = ParseContext { max_readings: 2, ..context() };
    let d = "<d t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\">1</p></m></d>";
    let error = parse_in(&format!("<sunSpecData>{d}{d}{d}</sunSpecData>"), context)
        .expect_err("three records, two allowed");
    assert_eq!(error.code, ErrorCode::TooManyReadings);
}

#[test]
fn more_than_4096_points_in_a_record_refuse_the_document() {
    let points = "<p id=\"Foo\">1</p>".repeat(4097);
    let error = refusal(&record(&format!("<m id=\"64001\">{points}</m>")));
    assert_eq!(error.code, ErrorCode::TooManyReadings);
    let fits = parse(&record(&format!("<m id=\"64001\">{}</m>", "<p id=\"Foo\">1</p>".repeat(4096))));
    assert_eq!(fits.readings.len(), 1);
}

#[test]
fn more_than_4096_models_in_a_record_refuse_the_document() {
    let error = refusal(&record(&"<m id=\"64001\"/>".repeat(4097)));
    assert_eq!(error.code, ErrorCode::TooManyReadings);
    assert_eq!(error.reason, "more than 4096 models in one <d> record; split it");
    let fits =
        parse(&record(&format!("{}<m id=\"101\"><p id=\"W\">1</p></m>", "<m id=\"64001\"/>".repeat(4095))));
    assert_eq!(fits.readings.len(), 1);
}

#[test]
fn a_refused_records_content_names_each_point_by_its_own_model_as_sent() {
    let document = parse(
        "<sunSpecData>\
         <d sn=\"INV1\" t=\"2013-06-01T12:00:00Z\"><m id=\"1\"><p id=\"Mn\">gsc</p></m>\
         <m id=\" 101x\"><p id=\"W\" sf=\"-1\" u=\"W\">100</p></m><m><p id=\"A\" x=\"2\">5</p></m></d>\
         <d sn=\"INV1\" t=\"2013-06-01T12:01:00Z\"><m id=\"1\"><p id=\"Mn\">gsc</p></m>\
         <m id=\"101\"><p id=\"W\">100</p></m></d>\
         </sunSpecData>",
    );
    let [rejected] = &document.rejected[..] else { panic!("one refused: {:?}", document.rejected) };
    assert_eq!(rejected.reason, "model id \" 101x\" is neither a SunSpec model number nor a model's name");
    assert_eq!(rejected.content, "1.Mn=gsc;  101x.W=100 sf=-1 W; ?.A.2=5");
    assert_eq!(document.readings.len(), 1, "the next record reuses the slots and is stored");
    assert_close(document.readings[0].metrics.get(Metric::AcPower), 100.0);
    assert_eq!(only_device(&document).manufacturer.as_deref(), Some("gsc"));
}

#[test]
fn long_values_and_ids_refuse_the_record_and_the_quarantine_content_is_bounded() {
    let long_value = parse(&record(&format!("<m id=\"101\"><p id=\"W\">{}</p></m>", "1".repeat(65))));
    assert_eq!(long_value.rejected[0].reason, "value of 101.W is longer than 64 characters");
    let long_id = parse(&record(&format!("<m id=\"101\"><p id=\"{}\">1</p></m>", "W".repeat(65))));
    assert!(long_id.rejected[0].reason.starts_with("point id"));
    let many = "<p id=\"PointWithALongName\" x=\"1234\">123456789.123</p>".repeat(200);
    let bad = parse(&format!("<sunSpecData><d t=\"never\"><m id=\"64001\">{many}</m></d></sunSpecData>"));
    let content = &bad.rejected[0].content;
    assert!(content.len() <= 1024, "{}", content.len());
    assert!(content.starts_with("64001.PointWithALongName.1234=123456789.123; "));
}

#[test]
fn model_and_point_attributes_must_be_usable() {
    for (models, reason) in [
        ("<m><p id=\"W\">1</p></m>", "<m> needs an id attribute (its model number)"),
        (
            "<m id=\"toaster\"><p id=\"W\">1</p></m>",
            "model id \"toaster\" is neither a SunSpec model number nor a model's name",
        ),
        ("<m id=\"101\"><p>1</p></m>", "<p> needs an id attribute"),
        ("<m id=\"101\"><p id=\"W\" x=\"one\">1</p></m>", "repeat index x=\"one\" is not a whole number"),
        ("<m id=\"101\"></m>", "record has no values"),
    ] {
        let document = parse(&record(models));
        assert_eq!(document.rejected[0].reason, reason, "{models}");
    }
}

#[test]
fn elements_out_of_place_and_stray_text_refuse_the_document() {
    for xml in [
        "<sunSpecData><reading/></sunSpecData>",
        "<sunSpecData><d t=\"2013-06-01T12:00:00Z\"><p id=\"W\">1</p></d></sunSpecData>",
        "<sunSpecData><d t=\"2013-06-01T12:00:00Z\"><m id=\"1\"><p id=\"W\"><b/></p></m></d></sunSpecData>",
        "<sunSpecData>hello</sunSpecData>",
    ] {
        assert_eq!(refusal(xml).code, ErrorCode::Invalid, "{xml}");
    }
}

#[test]
fn a_point_slot_reused_by_another_tag_or_another_model_is_read_afresh() {
    // Points are read once per slot and reused while the next record repeats the same tag in
    // the same model; here the slots change tags between records and one tag is shared by two
    // models, which give it different meanings.
    let document = parse(
        "<sunSpecData v=\"1\">\
         <d sn=\"INV1\" t=\"2013-06-01T12:00:00Z\">\
           <m id=\"101\"><p id=\"W\">100</p><p id=\"A\" sf=\"-1\">50</p></m>\
           <m id=\"64001\"><p id=\"W\">7</p></m></d>\
         <d sn=\"INV1\" t=\"2013-06-01T12:01:00Z\">\
           <m id=\"64001\"><p id=\"W\">9</p></m>\
           <m id=\"101\"><p id=\"A\" sf=\"-1\">60</p><p id=\"W\">200</p></m>\
           <m id=\"64001\"><p id=\"W\" x=\"2\">8</p></m></d>\
         </sunSpecData>",
    );
    assert!(document.rejected.is_empty(), "{:?}", document.rejected);
    let [first, second] = &document.readings[..] else { panic!("two readings: {:?}", document.readings) };
    assert_close(first.metrics.get(Metric::AcPower), 100.0);
    assert_close(first.metrics.get(Metric::AcCurrent), 5.0);
    assert_extra(&first.metrics, "64001.W", 7.0);
    assert_eq!(first.metrics.extra.len(), 1, "{:?}", first.metrics.extra);
    assert_close(second.metrics.get(Metric::AcPower), 200.0);
    assert_close(second.metrics.get(Metric::AcCurrent), 6.0);
    assert_extra(&second.metrics, "64001.W", 9.0);
    assert_extra(&second.metrics, "64001.W.2", 8.0);
    assert_eq!(second.metrics.extra.len(), 2, "{:?}", second.metrics.extra);
}

#[test]
fn what_a_record_repeats_of_the_previous_one_is_reused_only_while_it_is_the_same() {
    // A record's `<d>` attributes, its points' scale factors and its extras' order are worked out
    // once and reused while the next record repeats the same tags; here they change and return.
    let document = parse(
        "<sunSpecData v=\"1\">\
         <d sn=\"INV1\" man=\"gsc\" t=\"2013-06-01T12:00:00Z\" cid=\"1\">\
           <m id=\"101\"><p id=\"W\">100</p><p id=\"W_SF\">-1</p></m>\
           <m id=\"64001\"><p id=\"Foo\">3</p></m></d>\
         <d sn=\"INV1\" man=\"gsc\" t=\"2013-06-01T12:00:30Z\" cid=\"1b\">\
           <m id=\"101\"><p id=\"W\">200</p><p id=\"W_SF\">-1</p></m>\
           <m id=\"64001\"><p id=\"Foo\">3.5</p></m></d>\
         <d sn=\"INV1\" man=\"gsc\" t=\"2013-06-01T12:01:00Z\" cid=\"2\">\
           <m id=\"101\"><p id=\"W_SF\">-2</p><p id=\"W\">100</p></m>\
           <m id=\"64001\"><p id=\"Foo\">4</p></m></d>\
         <d sn=\"INV2\" t=\"2013-06-01T12:02:00Z\" cid=\"3\">\
           <m id=\"101\"><p id=\"W\">100</p></m></d>\
         <d sn=\"INV1\" man=\"gsc\" t=\"2013-06-01T12:03:00Z\" cid=\"4\">\
           <m id=\"101\"><p id=\"W_SF\">1</p><p id=\"W\">100</p></m>\
           <m id=\"64001\"><p id=\"Foo\">6</p><p id=\"Bar\">5</p></m></d>\
         <d sn=\"INV1\" man=\"gsc\" t=\"2013-06-01T12:04:00Z\" cid=\"5\">\
           <m id=\"101\"><p id=\"W_SF\">1</p><p id=\"W\">100</p></m>\
           <m id=\"64001\"><p id=\"Foo\">7</p><p id=\"Foo\">8</p></m></d>\
         </sunSpecData>",
    );
    assert!(document.rejected.is_empty(), "{:?}", document.rejected);
    let cids: Vec<_> = document.records.iter().map(|record| record.cid.as_deref()).collect();
    assert_eq!(cids, [Some("1"), Some("1b"), Some("2"), Some("3"), Some("4"), Some("5")]);
    let readings = &document.readings;
    let devices: Vec<_> = readings.iter().map(|reading| reading.device.as_str()).collect();
    assert_eq!(devices, ["INV1", "INV1", "INV1", "INV2", "INV1", "INV1"]);
    let powers: Vec<_> = readings.iter().map(|reading| reading.metrics.get(Metric::AcPower)).collect();
    assert_eq!(powers, [Some(10.0), Some(20.0), Some(1.0), Some(100.0), Some(1000.0), Some(1000.0)]);
    let extras: Vec<Vec<(&str, f64)>> = readings
        .iter()
        .map(|reading| reading.metrics.extra.iter().map(|(name, value)| (name.as_str(), *value)).collect())
        .collect();
    assert_eq!(
        extras,
        [
            vec![("64001.Foo", 3.0)],
            vec![("64001.Foo", 3.5)],
            vec![("64001.Foo", 4.0)],
            vec![],
            vec![("64001.Bar", 5.0), ("64001.Foo", 6.0)],
            vec![("64001.Foo", 7.0)],
        ]
    );
    let described: Vec<_> =
        document.devices.iter().map(|device| (device.id.as_str(), device.manufacturer.as_deref())).collect();
    assert_eq!(described, [("INV1", Some("gsc")), ("INV2", None)]);
}

/// Everything a parse gives, errors included, as text to compare.
fn outcome(xml: &str) -> String {
    format!("{:?}", parse_in(xml, context()))
}

#[test]
fn a_thread_parses_each_document_as_a_fresh_thread_would_whatever_it_parsed_before() {
    // One thread's documents start from the slots its previous document left
    // (`SunSpecParser::for_document`): a logger's next document with the same records, and the
    // same tags in other models, other devices, fewer and more points, a document refused
    // half-way and a record refused alone, one after another.
    let bad_record = "<sunSpecData v=\"1\">\
        <d sn=\"INV8\" t=\"never\"><m id=\"101\"><p id=\"W\">100</p><p id=\"St\">4</p></m></d>\
        <d sn=\"INV9\" t=\"2013-06-01T12:00:00Z\"><m id=\"101\"><p id=\"W\" sf=\"1\">20</p></m></d>\
        </sunSpecData>";
    let same_tags_other_model = record("<m id=\"103\"><p id=\"W\" sf=\"1\">20</p><p id=\"St\">4</p></m>");
    let broken = "<sunSpecData v=\"1\"><d sn=\"INV1\" t=\"2013-06-01T12:00:00Z\">\
        <m id=\"101\"><p id=\"W\"><q/></p></m></d></sunSpecData>";
    let documents = [
        SPEC_PAGE_10,
        SPEC_PAGE_10,
        POWERONE_ENVIRO,
        POWERONE_ENVIRO,
        bad_record,
        VERIS_METER,
        SPEC_PAGE_10,
        broken,
        same_tags_other_model.as_str(),
        GOSUNSPEC_V_SF,
        GOSUNSPEC_V_SF,
        bad_record,
        bad_record,
        PYSUNSPEC_MINIMAL,
        POWERONE_ENVIRO,
        SPEC_PAGE_10,
    ];
    let fresh: Vec<String> = documents
        .iter()
        .map(|xml| {
            let xml = (*xml).to_owned();
            std::thread::spawn(move || outcome(&xml)).join().expect("the parse does not panic")
        })
        .collect();
    let in_turn: Vec<String> = documents.iter().map(|xml| outcome(xml)).collect();
    for ((xml, fresh), in_turn) in documents.iter().zip(&fresh).zip(&in_turn) {
        assert_eq!(in_turn, fresh, "parsed after other documents:\n{xml}");
    }
    let refused = documents.iter().position(|xml| *xml == broken).map(|at| &fresh[at]);
    assert!(refused.is_some_and(|outcome| outcome.starts_with("Err(")), "refused: {refused:?}");
}
