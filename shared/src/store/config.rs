//! Which backend to open, and how.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::Replication;
use crate::store::cassandra::KeyspaceName;

/// Store settings, as read from the configuration file (`[store]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum StoreSettings {
    /// SQLite databases under a data directory: one for the registry, one per provider.
    Embedded {
        /// Where the databases live.
        data_dir: PathBuf,
    },
    /// A Cassandra cluster: a registry keyspace plus one keyspace per provider.
    Cassandra(CassandraSettings),
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self::Embedded { data_dir: PathBuf::from("data") }
    }
}

/// How to reach and use a Cassandra cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CassandraSettings {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspace holding the provider registry and gateway directory.
    pub registry_keyspace: KeyspaceName,
    /// Replication of the registry keyspace.
    pub registry_replication: Replication,
    /// Consistency of reads and writes.
    pub consistency: ConsistencySetting,
    /// Per-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Local data centre name, for DC-aware routing (optional).
    pub local_dc: Option<String>,
}

impl Default for CassandraSettings {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".to_owned()],
            registry_keyspace: KeyspaceName::parse("heliograph")
                .expect("'heliograph' is a valid keyspace name"),
            registry_replication: Replication::default(),
            consistency: ConsistencySetting::LocalQuorum,
            request_timeout_ms: 5_000,
            local_dc: None,
        }
    }
}

/// Consistency levels worth choosing for Heliograph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencySetting {
    /// One replica.
    One,
    /// A quorum in the local data centre (clusters).
    LocalQuorum,
    /// A quorum across data centres.
    Quorum,
}
