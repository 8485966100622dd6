//! Periodic summaries: which period an email covers ([`period`]), what it says as plain data
//! ([`figures`]), how those figures are read from the shared report computation
//! ([`from_reports`]), and the email itself with its delivery key ([`email`]).

pub mod email;
pub mod figures;
pub mod from_reports;
pub mod period;

pub use period::{Cadence, SummaryPeriod, SummaryPeriodError};
