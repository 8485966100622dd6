//! The fixtures in `fixtures/native` parse to exactly what docs/protocol.md says they mean.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use chrono::{TimeDelta, Utc};
use heliograph_ingest::protocol::{Document, ParseContext, parse_document};
use heliograph_shared::{DeviceStatus, GatewayId, Metric, TimestampPolicy};

fn fixture(name: &str) -> String {
    let path = format!("{}/../fixtures/native/{name}", env!("CARGO_MANIFEST_DIR"));
    let t0 = (Utc::now() - TimeDelta::minutes(5)).to_rfc3339();
    std::fs::read_to_string(path).unwrap().replace("{{T0}}", &t0)
}

fn context() -> ParseContext {
    ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy::default(),
        max_readings: 100,
        session_gateway: None,
    }
}

fn readings(name: &str) -> heliograph_ingest::protocol::ReadingsDocument {
    match parse_document(fixture(name).as_bytes(), context(), 16).0.unwrap() {
        Document::Readings(document) => document,
        other => panic!("{name} is not a readings document: {other:?}"),
    }
}

#[test]
fn an_inverter_meter_and_sensor_minute_is_converted_to_canonical_units() {
    let document = readings("batch_inverter_meter.xml");
    assert_eq!(document.seq, Some(42));
    assert!(document.rejected.is_empty(), "{:?}", document.rejected);
    assert_eq!(document.readings.len(), 3);
    let inverter = &document.readings[0].metrics;
    let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
    assert!(close(inverter.get(Metric::AcPower), 6701.3));
    assert!(close(inverter.get(Metric::Energy), 126_973.0));
    assert!(close(inverter.get(Metric::DcCurrent), 14.28));
    assert!(close(inverter.get(Metric::DcVoltage), 469.0));
    assert!(close(inverter.get(Metric::Temperature), 32.94));
    assert_eq!(inverter.extra.get("insulation_resistance[kOhm]"), Some(&3200.0));
    assert_eq!(document.readings[0].status, Some(DeviceStatus::Producing));
    let meter = &document.readings[1].metrics;
    assert!(close(meter.get(Metric::AcPower), -3750.0), "alias `power`, export keeps its sign");
    assert!(close(meter.get(Metric::ExportEnergy), 2_958_200.0));
    let sensor = &document.readings[2].metrics;
    assert!(close(sensor.get(Metric::Irradiance), 812.5));
    assert!(close(sensor.get(Metric::Temperature), 27.0));
    let kinds: Vec<&str> = document.devices.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["inverter", "meter", "irradiance_sensor"]);
    assert_eq!(document.credentials.unwrap().gateway, GatewayId::parse("GW-0001").unwrap());
}

#[test]
fn invalid_readings_are_set_aside_with_reasons_and_the_rest_kept() {
    let document = readings("batch_with_invalid_readings.xml");
    assert_eq!(document.readings.len(), 2, "the good reading and the status-only reading");
    let reasons: Vec<&str> = document.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].contains("measures energy, expected power"), "{reasons:?}");
    assert!(reasons[1].contains("invalid device id"), "{reasons:?}");
    assert!(reasons[2].contains("in the future"), "{reasons:?}");
    assert_eq!(document.rejected[0].content, "ac_power=1 kWh");
}

#[test]
fn a_hello_carries_the_gateway_and_its_token() {
    match parse_document(fixture("hello.xml").as_bytes(), context(), 16).0.unwrap() {
        Document::Hello(credentials) => {
            assert_eq!(credentials.gateway.as_str(), "GW-0001");
            assert!(credentials.token.is_some());
        }
        other => panic!("not a hello: {other:?}"),
    }
}
