//! Parse throughput against its baseline, measured in the same run: a bare quick-xml event loop
//! over the same bytes that does no work with the events. The target is ≥ 0.5 of the baseline.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use heliograph_ingest::protocol::bare_event_loop;

mod documents;

fn parse(c: &mut Criterion) {
    for (name, document) in documents::all() {
        documents::check(name, &document);
        let bytes = document.as_bytes();
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("baseline_quick_xml_events", |b| b.iter(|| bare_event_loop(black_box(bytes))));
        group.bench_function("heliograph", |b| b.iter(|| black_box(documents::parse(black_box(bytes)))));
        group.finish();
    }
}

fn units(c: &mut Criterion) {
    let spellings = ["W", "kW", "kWh", "MWh", "V", "mA", "Hz", "°C", "W/m2"];
    c.bench_function("units/parse_and_convert_9", |b| {
        b.iter(|| {
            spellings
                .iter()
                .map(|s| {
                    heliograph_shared::Unit::parse(black_box(s)).map(|u| u.to_canonical(1.5)).unwrap_or(0.0)
                })
                .sum::<f64>()
        })
    });
}

criterion_group!(benches, parse, units);
criterion_main!(benches);
