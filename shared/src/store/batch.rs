//! What one accepted document asks the store to write, as one unit.

use chrono::{DateTime, Utc};

use crate::domain::{Device, GatewayId, QuarantinedReading, Reading};

/// A document's writes: committed together on the embedded store (one fsync for many documents),
/// written concurrently on Cassandra; the ack waits for all of it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WriteBatch {
    /// The gateway the document came from; its last-seen time becomes `received_at`.
    pub gateway: GatewayId,
    /// When the server received the document.
    pub received_at: DateTime<Utc>,
    /// Valid readings.
    pub readings: Vec<Reading>,
    /// Readings refused one by one, with reasons.
    pub quarantined: Vec<QuarantinedReading>,
    /// Devices described by the document (kind, manufacturer, model, serial).
    pub devices: Vec<Device>,
}

impl WriteBatch {
    /// An empty batch for a gateway.
    pub fn new(gateway: GatewayId, received_at: DateTime<Utc>) -> Self {
        Self { gateway, received_at, readings: Vec::new(), quarantined: Vec::new(), devices: Vec::new() }
    }
}

impl WriteBatch {
    /// Takes in `later`, a batch of the same gateway that was to be stored after this one, so
    /// that storing the result has the same outcome as storing both in turn: a later reading of a
    /// device and time replaces an earlier one, a later description of a device replaces an
    /// earlier one, quarantined readings are all kept, and the last-seen time is the latest.
    /// Used to store a backlog (a spool's records) with fewer, larger writes.
    pub fn absorb(&mut self, later: WriteBatch) {
        debug_assert_eq!(self.gateway, later.gateway, "only one gateway's batches are merged");
        self.received_at = self.received_at.max(later.received_at);
        self.quarantined.extend(later.quarantined);
        let replaced: std::collections::HashSet<_> =
            later.readings.iter().map(|r| (r.device.clone(), r.ts)).collect();
        self.readings.retain(|r| !replaced.contains(&(r.device.clone(), r.ts)));
        self.readings.extend(later.readings);
        let described: std::collections::HashSet<_> = later.devices.iter().map(|d| d.id.clone()).collect();
        self.devices.retain(|d| !described.contains(&d.id));
        self.devices.extend(later.devices);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::domain::{DeviceId, Metric, Metrics};

    fn batch(at_minutes: &[(i64, f64)], received: i64) -> WriteBatch {
        let gateway = GatewayId::parse("GW-1").expect("a valid id");
        let start = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a valid time");
        let mut batch = WriteBatch::new(gateway.clone(), start + TimeDelta::minutes(received));
        for &(minute, power) in at_minutes {
            let mut metrics = Metrics::default();
            metrics.set(Metric::AcPower, power).expect("a valid value");
            batch.readings.push(Reading {
                gateway: gateway.clone(),
                device: DeviceId::parse("inv-1").expect("a valid id"),
                ts: start + TimeDelta::minutes(minute),
                status: None,
                metrics,
            });
        }
        batch
    }

    #[test]
    fn an_absorbed_batch_replaces_readings_of_the_same_device_and_time_and_keeps_the_rest() {
        let mut first = batch(&[(0, 1.0), (1, 2.0)], 5);
        first.absorb(batch(&[(1, 20.0), (2, 30.0)], 6));
        let powers: Vec<(i64, f64)> = first
            .readings
            .iter()
            .map(|r| (r.ts.timestamp() / 60 % 100, r.metrics.get(Metric::AcPower).expect("power")))
            .collect();
        assert_eq!(powers.len(), 3);
        assert!(powers.contains(&(powers[0].0, 1.0)));
        assert!(powers.iter().any(|&(_, p)| p == 20.0) && !powers.iter().any(|&(_, p)| p == 2.0));
        assert_eq!(first.received_at, batch(&[], 6).received_at, "the latest arrival");
    }
}
