//! `heliograph load --prefill N`: fills the store with N readings of history before a growth
//! run, so that ingest can be measured against a store that already holds them. The readings
//! go straight into the store (its own write path, rollups included), a day of one gateway's
//! 1-minute readings per write, and end `--days-back` days ago so that the measured runs, which
//! send newer readings, never rewrite them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use heliograph_shared::store::{TenantStore, WriteBatch};
use heliograph_shared::{DeviceId, GatewayId, Metric, Metrics, Reading};

/// Readings per write: one day of one gateway's 1-minute readings.
const DAY: i64 = 1440;
/// Writes in flight at once.
const CONCURRENT_WRITES: usize = 8;
/// Progress is printed every this many readings.
const PROGRESS_EVERY: u64 = 5_000_000;

/// Writes `total` readings spread evenly over `gateways`, each gateway's ending at `end`.
/// Returns the readings written and the seconds it took.
pub(super) async fn run(
    tenant: Arc<dyn TenantStore>,
    gateways: &[GatewayId],
    total: u64,
    end: DateTime<Utc>,
) -> anyhow::Result<(u64, f64)> {
    anyhow::ensure!(!gateways.is_empty(), "--prefill needs at least one gateway");
    let per_gateway = (total / gateways.len() as u64) as i64;
    let days = (per_gateway + DAY - 1) / DAY;
    let device = DeviceId::parse("inv-1")?;
    let start = end - TimeDelta::minutes(per_gateway);
    let written = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writes = (0..days).flat_map(|day| gateways.iter().map(move |gateway| (day, gateway)));
    stream::iter(writes)
        .map(|(day, gateway)| {
            let first = day * DAY;
            let count = DAY.min(per_gateway - first);
            let batch = day_batch(gateway, &device, start, first, count);
            let (tenant, written) = (Arc::clone(&tenant), Arc::clone(&written));
            async move {
                tenant.write_batch(batch).await?;
                let before = written.fetch_add(count as u64, Ordering::Relaxed);
                if (before + count as u64) / PROGRESS_EVERY > before / PROGRESS_EVERY {
                    eprintln!("prefill: {} readings", before + count as u64);
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<()>>()
        .await?;
    Ok((written.load(Ordering::Relaxed), started.elapsed().as_secs_f64()))
}

/// `count` 1-minute readings of one gateway's inverter from minute `first` after `start`, with
/// the values the load documents carry (power, a rising energy counter, voltage, frequency).
fn day_batch(
    gateway: &GatewayId,
    device: &DeviceId,
    start: DateTime<Utc>,
    first: i64,
    count: i64,
) -> WriteBatch {
    let mut batch = WriteBatch::new(gateway.clone(), Utc::now());
    batch.readings = (first..first + count)
        .map(|n| {
            let mut metrics = Metrics::default();
            metrics.set_unchecked(Metric::AcPower, Some(1000.0 + (n % 997) as f64));
            metrics.set_unchecked(Metric::Energy, Some(1_000_000.0 + n as f64));
            metrics.set_unchecked(Metric::AcVoltage, Some(230.1));
            metrics.set_unchecked(Metric::Frequency, Some(50.01));
            Reading {
                gateway: gateway.clone(),
                device: device.clone(),
                ts: start + TimeDelta::minutes(n),
                status: None,
                metrics,
            }
        })
        .collect();
    batch
}
