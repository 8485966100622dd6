//! Report computation, one implementation for the web panel, the API and the mailer.
//!
//! Raw readings are folded into hourly rollups ([`rollup`]); a day's report is computed from
//! those rollups ([`site`]), and longer periods (month, year, any range) add up day summaries
//! ([`daily`]) that the store keeps once a day is over, so a year view reads one row per day,
//! never a year of one-minute readings nor 24 × 365 hourly rollups per device. Only the day
//! view's power curve reads raw readings ([`curve`]). Periods are read in the site's own
//! timezone ([`period`]).

pub mod comparable;
pub mod csv;
pub mod curve;
pub mod daily;
pub mod daylight;
pub mod energy;
pub mod load;
mod packed;
pub mod performance;
pub mod period;
pub mod rollup;
pub mod site;
pub mod status;

pub use curve::{CurvePoint, DeviceCurve};
pub use load::{SiteSnapshot, day_curves, device_rollups, site_report, site_snapshot, site_timezone};
pub use packed::RollupDecodeError;
pub use period::{Bucket, Period, PeriodError, Resolution};
pub use rollup::{HourlyRollup, hourly_rollups};
pub use site::{BucketReport, Coverage, DeviceRollups, EnergyFlows, Peak, SiteFacts, SiteReport};
pub use status::SiteStatus;
