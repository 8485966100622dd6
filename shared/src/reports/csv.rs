//! CSV renderings of reports and raw readings, for downloads and mail attachments.
//!
//! Times are written twice where it matters: local with its offset (unambiguous on the repeated
//! hour of a daylight-saving change) and UTC. Text fields are quoted, and a leading `=`, `+`,
//! `-` or `@` is neutralised so a spreadsheet never runs a device's status word as a formula.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::site::{Coverage, SiteReport};
use crate::domain::{Metric, Reading};

/// A report's buckets, one row each, energies in kWh. A bucket without measurements has empty
/// figures and says why in its `data` column ("no_data", "before_commissioning", "future"),
/// so a spreadsheet never adds up a missing hour as a zero.
pub fn report_csv(report: &SiteReport) -> String {
    let tz = report.timezone;
    let mut out = String::from("start,end,production_kwh,peak_power_w,peak_at");
    if report.has_meter {
        out.push_str(",grid_import_kwh,grid_export_kwh,consumption_kwh,self_consumption_kwh");
    }
    if report.has_irradiance {
        out.push_str(",performance_ratio");
    }
    out.push_str(",data\r\n");
    let kwh = |wh: Option<f64>| wh.map(crate::format::csv_kwh).unwrap_or_default();
    for bucket in &report.buckets {
        let measured = bucket.coverage.measured();
        let kwh = |wh: Option<f64>| if measured { kwh(wh) } else { String::new() };
        let flows = &bucket.flows;
        let _ = write!(
            out,
            "{},{},{},{},{}",
            local(bucket.start, tz),
            local(bucket.end, tz),
            kwh(Some(flows.production_wh)),
            bucket.peak.map(|p| crate::format::csv_watts(p.watts)).unwrap_or_default(),
            bucket.peak.map(|p| local(p.at, tz)).unwrap_or_default(),
        );
        if report.has_meter {
            let _ = write!(
                out,
                ",{},{},{},{}",
                kwh(flows.grid_import_wh),
                kwh(flows.grid_export_wh),
                kwh(flows.consumption_wh),
                kwh(flows.self_consumption_wh)
            );
        }
        if report.has_irradiance {
            let pr = bucket.performance_ratio.filter(|_| measured);
            let _ = write!(out, ",{}", pr.map(crate::format::csv_performance_ratio).unwrap_or_default());
        }
        let _ = write!(out, ",{}\r\n", coverage_key(bucket.coverage));
    }
    out
}

fn coverage_key(coverage: Coverage) -> &'static str {
    match coverage {
        Coverage::Data => "measured",
        Coverage::NoData => "no_data",
        Coverage::BeforeCommissioning => "before_commissioning",
        Coverage::Future => "future",
    }
}

/// The header row of [`readings_csv_rows`].
pub fn readings_csv_header() -> String {
    let mut out = String::from("ts_utc,ts_local,device,status");
    for metric in Metric::ALL {
        let unit =
            metric.quantity().canonical_symbol().replace('/', "_per_").replace('²', "2").replace('°', "");
        let _ = write!(out, ",{}_{}", metric.name(), unit.to_ascii_lowercase());
    }
    out.push_str("\r\n");
    out
}

/// Appends one row per reading, canonical metrics in [`Metric::ALL`] order.
pub fn readings_csv_rows(readings: &[Reading], tz: Tz, out: &mut String) {
    for reading in readings {
        let status = reading.status.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{},{},{}",
            reading.ts.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            local(reading.ts, tz),
            text(reading.device.as_str()),
            text(&status)
        );
        for metric in Metric::ALL {
            out.push(',');
            if let Some(value) = reading.metrics.get(metric) {
                out.push_str(&crate::format::csv_value(metric, value));
            }
        }
        out.push_str("\r\n");
    }
}

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A quoted CSV text field, defused for spreadsheets.
pub fn text(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::domain::{DeviceId, DeviceStatus, GatewayId, Metrics};
    use crate::reports::Period;
    use crate::reports::site::{BucketReport, EnergyFlows, Peak};

    #[test]
    fn report_rows_carry_local_times_and_kwh() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().expect("valid");
        let report = SiteReport {
            period: Period::Day { date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid") },
            timezone: tz,
            capacity_kwp: 5.0,
            has_meter: true,
            buckets: vec![
                BucketReport {
                    start,
                    end: start + chrono::TimeDelta::hours(1),
                    label: "12:00".into(),
                    flows: EnergyFlows::new(2500.0, Some((100.0, 1200.0))),
                    peak: Some(Peak { watts: 3100.0, at: start }),
                    coverage: Coverage::Data,
                    performance_ratio: Some(0.813_043),
                },
                BucketReport {
                    start: start + chrono::TimeDelta::hours(1),
                    end: start + chrono::TimeDelta::hours(2),
                    label: "13:00".into(),
                    flows: EnergyFlows::new(0.0, Some((0.0, 0.0))),
                    peak: None,
                    coverage: Coverage::NoData,
                    performance_ratio: None,
                },
            ],
            total: EnergyFlows::default(),
            peak: None,
            specific_yield: None,
            availability: None,
            coverage: Coverage::Data,
            has_irradiance: true,
            performance_ratio: Some(0.8125),
            commissioned: None,
        };
        let csv = report_csv(&report);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "start,end,production_kwh,peak_power_w,peak_at,grid_import_kwh,grid_export_kwh,consumption_kwh,self_consumption_kwh,performance_ratio,data"
        );
        assert_eq!(
            lines[1],
            "2026-06-01T12:00:00+02:00,2026-06-01T13:00:00+02:00,2.5,3100,2026-06-01T12:00:00+02:00,0.1,1.2,1.4,1.3,0.813,measured"
        );
        assert_eq!(lines[2], "2026-06-01T13:00:00+02:00,2026-06-01T14:00:00+02:00,,,,,,,,,no_data");
    }

    #[test]
    fn reading_rows_defuse_formulas_in_text_fields() {
        let mut metrics = Metrics::default();
        metrics.set(Metric::AcPower, 1500.5).expect("valid");
        let reading = Reading {
            gateway: GatewayId::parse("GW").expect("valid"),
            device: DeviceId::parse("inv-1").expect("valid"),
            ts: Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().expect("valid"),
            status: Some(DeviceStatus::Other("=HYPERLINK(\"x\")".into())),
            metrics,
        };
        let mut out = readings_csv_header();
        readings_csv_rows(&[reading], Tz::UTC, &mut out);
        assert!(out.starts_with("ts_utc,ts_local,device,status,ac_power_w,dc_power_w,energy_wh,"));
        assert!(out.contains(",irradiance_w_per_m2,"));
        let row = out.lines().nth(1).expect("a row");
        assert_eq!(
            row,
            "2026-06-01T10:00:00Z,2026-06-01T10:00:00+00:00,\"inv-1\",\"'=HYPERLINK(\"\"x\"\")\",1500.5,,,,,,,,,,,"
        );
    }
}
