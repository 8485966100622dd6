//! The driver session built from [`CassandraSettings`]: contact points, the default execution
//! profile (consistency and request timeout) and data-centre preference.

use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;

use super::error::ResultExt;
use crate::store::{CassandraSettings, ConsistencySetting, StoreError};

/// The driver's consistency level for a configured one.
pub(super) fn consistency(setting: ConsistencySetting) -> Consistency {
    match setting {
        ConsistencySetting::One => Consistency::One,
        ConsistencySetting::LocalQuorum => Consistency::LocalQuorum,
        ConsistencySetting::Quorum => Consistency::Quorum,
    }
}

/// How long a schema change waits for every node to agree on it (the driver's default is a
/// minute; a node just restarted can take longer to catch up).
const SCHEMA_AGREEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Connects to the cluster; an unreachable cluster is [`StoreError::Unavailable`].
pub(super) async fn session(settings: &CassandraSettings) -> Result<Session, StoreError> {
    if settings.nodes.is_empty() {
        return Err(StoreError::Config("no Cassandra contact points: set [store] nodes".into()));
    }
    if settings.request_timeout_ms == 0 {
        return Err(StoreError::Config("request_timeout_ms must be above 0".into()));
    }
    let profile = ExecutionProfile::builder()
        .consistency(consistency(settings.consistency))
        .request_timeout(Some(Duration::from_millis(settings.request_timeout_ms)))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .schema_agreement_timeout(SCHEMA_AGREEMENT_TIMEOUT);
    if let Some(dc) = &settings.local_dc {
        builder = builder.prefer_datacenter(dc.clone());
    }
    builder.build().await.store()
}
