//! Report computation, one implementation for the web panel, the API and the mailer.
//!
//! Raw readings are folded into hourly rollups ([`rollup`]); every period report (day, month,
//! year, any range) is computed from those rollups, so a year view reads 24 × 365 rows per
//! device, never a year of one-minute readings.

pub mod rollup;

pub use rollup::{HourlyRollup, hourly_rollups};
