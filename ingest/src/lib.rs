//! Heliograph's ingest server: gateways push XML documents over TCP (or SunSpec uploads over
//! HTTP POST), the server parses them as a stream, writes them to the provider's store, and
//! acknowledges each document only once it is durable.
//!
//! Layers, each with one job: [`protocol`] (pure parsing and answers) → [`connection`] (framing a
//! socket's byte stream into documents, limits, timeouts) → [`server`] (listeners, per-provider
//! ports, connection cap, shutdown), with [`pipeline`] deciding what a document does to the store.

pub mod budget;
pub mod connection;
mod gateway_cache;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod protocol;
mod refusal_log;
pub mod server;
pub mod settings;
pub mod spool;
pub mod tls;

pub use server::{IngestServer, ServerError};
pub use settings::IngestSettings;
