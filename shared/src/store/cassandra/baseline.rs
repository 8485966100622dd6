//! The benchmark baseline for the Cassandra ingest figure: readings written straight through
//! the driver, with nothing of the store around them (no gateway directory, devices, last-seen
//! time or rollups). It binds the same prepared statement to the same rows, grouped into the
//! same per-partition unlogged batches as the store's write path, so the ratio of the two
//! measures what the rest of ingest costs.

use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::KeyspaceName;
use super::connect;
use super::query::prepare;
use super::statements::upsert_reading;
use super::write::{MAX_CONCURRENT_WRITES, Write, push_partition, reading_partitions};
use crate::domain::{ProviderSlug, Reading};
use crate::store::{CassandraSettings, StoreError};

/// A driver session with the readings upsert of one provider's keyspace prepared.
pub struct DirectReadingWriter {
    session: Session,
    upsert: PreparedStatement,
}

impl DirectReadingWriter {
    /// Connects and prepares the upsert; the provider's keyspace must exist already.
    pub async fn connect(settings: &CassandraSettings, provider: &ProviderSlug) -> Result<Self, StoreError> {
        let session = connect::session(settings).await?;
        let upsert = prepare(&session, upsert_reading(&KeyspaceName::of_provider(provider))).await?;
        Ok(Self { session, upsert })
    }

    /// Writes `readings` and returns once every write is acknowledged at the configured
    /// consistency.
    pub async fn write(&self, readings: &[Reading]) -> Result<(), StoreError> {
        let partitions = reading_partitions(readings);
        let mut writes: Vec<Write<'_>> = Vec::new();
        for partition in &partitions {
            push_partition(&mut writes, &self.session, &self.upsert, partition);
        }
        stream::iter(writes).buffer_unordered(MAX_CONCURRENT_WRITES).try_collect::<Vec<()>>().await.map(drop)
    }
}
