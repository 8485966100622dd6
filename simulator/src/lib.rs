//! Simulated gateways for Heliograph: realistic solar data pushed over real TCP connections (the
//! demo behind `serve --demo` and `heliograph simulate`), and the benchmarks' load generator
//! (`heliograph load`), which also writes the driver-only baseline and prefills stores.

pub mod demo;
mod gateway;
pub mod load;
pub mod provision;
pub mod simulate;
pub mod solar;
