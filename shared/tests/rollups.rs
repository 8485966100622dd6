//! Store-kept hourly rollups equal rollups folded from the raw readings, however the readings
//! arrived: in several documents, out of order, resent, across hour boundaries.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use heliograph_shared::reports::hourly_rollups;
use heliograph_shared::store::{self, StoreSettings, WriteBatch};
use heliograph_shared::{
    DeviceId, Gateway, GatewayId, GatewayToken, Metric, Metrics, Provider, ProviderSlug, Reading,
};

fn reading(ts: DateTime<Utc>, power: f64, energy: f64) -> Reading {
    let mut metrics = Metrics::default();
    metrics.set(Metric::AcPower, power).unwrap();
    metrics.set(Metric::Energy, energy).unwrap();
    Reading {
        gateway: GatewayId::parse("GW-1").unwrap(),
        device: DeviceId::parse("inv-1").unwrap(),
        ts,
        status: None,
        metrics,
    }
}

#[tokio::test]
async fn embedded_rollups_match_a_fold_of_the_raw_readings_whatever_order_they_arrive_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&StoreSettings::Embedded { data_dir: dir.path().to_path_buf() }).await.unwrap();
    let slug = ProviderSlug::parse("acme").unwrap();
    store.create_provider(&Provider::new(slug.clone(), "Acme")).await.unwrap();
    let tenant = store.tenant(&slug).await.unwrap();
    let token = GatewayToken::generate();
    tenant
        .create_gateway(&Gateway {
            id: GatewayId::parse("GW-1").unwrap(),
            customer: None,
            site_name: "Site".into(),
            capacity_kwp: 5.0,
            token_hash: token.hash(),
            previous_token: None,
            last_seen: None,
            active: true,
            location: None,
            alerting: Default::default(),
        })
        .await
        .unwrap();

    let start = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().unwrap();
    let all: Vec<Reading> = (0..240)
        .map(|minute| {
            let power = 1000.0 + 10.0 * f64::from(minute % 37);
            // A counter reset two hours in.
            let energy = if minute < 120 {
                50_000.0 + 20.0 * f64::from(minute)
            } else {
                20.0 * f64::from(minute - 120)
            };
            reading(start + TimeDelta::minutes(i64::from(minute)), power, energy)
        })
        .collect();
    // Documents of 25 readings, sent newest first, and one resent.
    let mut chunks: Vec<Vec<Reading>> = all.chunks(25).map(<[Reading]>::to_vec).collect();
    chunks.reverse();
    chunks.push(chunks[3].clone());
    for chunk in chunks {
        let mut batch = WriteBatch::new(GatewayId::parse("GW-1").unwrap(), Utc::now());
        batch.readings = chunk;
        tenant.write_batch(batch).await.unwrap();
    }

    let expected = hourly_rollups(&all);
    let kept = tenant
        .hourly_rollups(
            &GatewayId::parse("GW-1").unwrap(),
            &DeviceId::parse("inv-1").unwrap(),
            start..start + TimeDelta::hours(4),
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 4);
    for (kept, expected) in kept.iter().zip(&expected) {
        assert_eq!(kept.hour, expected.hour);
        assert_eq!(kept.samples, 60);
        assert!(
            (kept.power_integral - expected.power_integral).abs() < 1e-6,
            "{} vs {}",
            kept.power_integral,
            expected.power_integral
        );
        assert!((kept.energy_gain - expected.energy_gain).abs() < 1e-6);
        assert_eq!(kept.peak_power, expected.peak_power);
    }
}
