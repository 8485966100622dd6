//! Heliograph's shared layer: the domain every process speaks (providers, customers, gateways,
//! devices, readings), the storage trait with its embedded and Cassandra backends, the
//! configuration types they are built from, and the HTTP edge every listener serves through.

pub mod alerts;
pub mod domain;
pub mod format;
pub mod http_edge;
pub mod reports;
pub mod roster;
pub mod store;

pub use domain::*;
