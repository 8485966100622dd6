//! Heliograph's shared layer: the domain every process speaks (providers, customers, gateways,
//! devices, readings), the storage trait with its embedded and Cassandra backends, and the
//! configuration types they are built from.

pub mod domain;
pub mod reports;
pub mod store;

pub use domain::*;
