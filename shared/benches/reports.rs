//! Report aggregation: folding a day of one-minute readings into hourly rollups.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heliograph_shared::reports::hourly_rollups;
use heliograph_shared::{DeviceId, GatewayId, Metric, Metrics, Reading};

fn day_of_minutes() -> Vec<Reading> {
    let start = Utc.with_ymd_and_hms(2026, 6, 21, 0, 0, 0).single().unwrap();
    (0..1440)
        .map(|minute| {
            let mut metrics = Metrics::default();
            let power = (f64::from(minute) / 1440.0 * std::f64::consts::PI).sin().max(0.0) * 8000.0;
            metrics.set(Metric::AcPower, power).unwrap();
            metrics.set(Metric::Energy, 1e6 + f64::from(minute) * 50.0).unwrap();
            Reading {
                gateway: GatewayId::parse("GW-1").unwrap(),
                device: DeviceId::parse("inv-1").unwrap(),
                ts: start + TimeDelta::minutes(i64::from(minute)),
                status: None,
                metrics,
            }
        })
        .collect()
}

fn rollups(c: &mut Criterion) {
    let readings = day_of_minutes();
    let mut group = c.benchmark_group("reports");
    group.throughput(Throughput::Elements(readings.len() as u64));
    group
        .bench_function("hourly_rollups_day_of_minutes", |b| b.iter(|| hourly_rollups(black_box(&readings))));
    group.finish();
}

criterion_group!(benches, rollups);
criterion_main!(benches);
