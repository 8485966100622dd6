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
