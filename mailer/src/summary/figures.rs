//! What a summary says, as plain data: filled from the shared report computation by
//! [`crate::summary::from_reports`], turned into words and bars by [`crate::presentation`].

use chrono::{DateTime, Utc};
use heliograph_shared::{DeviceId, DeviceKind, GatewayId};

use crate::summary::SummaryPeriod;

/// Energy over a period, kWh. Meter figures are `None` where no meter reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnergyTotals {
    /// Produced by the inverters.
    pub produced_kwh: f64,
    /// Consumed on site.
    pub consumed_kwh: Option<f64>,
    /// Drawn from the grid.
    pub imported_kwh: Option<f64>,
    /// Fed into the grid.
    pub exported_kwh: Option<f64>,
    /// Produced and used on site.
    pub self_consumed_kwh: Option<f64>,
}

/// The highest power in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// kW.
    pub kw: f64,
    /// When.
    pub at: DateTime<Utc>,
}

/// One device's share.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSummary {
    /// Id under its gateway.
    pub id: DeviceId,
    /// What it is.
    pub kind: DeviceKind,
    /// Manufacturer and model, when known.
    pub model: Option<String>,
    /// Energy it produced, kWh (producers only).
    pub energy_kwh: Option<f64>,
    /// Energy drawn from and fed into the grid, kWh (meters only).
    pub grid_kwh: Option<(f64, f64)>,
    /// Its highest power.
    pub peak: Option<Peak>,
}

/// One site's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSummary {
    /// Its gateway.
    pub gateway: GatewayId,
    /// Its name.
    pub name: String,
    /// Installed kWp.
    pub capacity_kwp: f64,
    /// Its energy.
    pub totals: EnergyTotals,
    /// kWh per kWp.
    pub specific_yield: Option<f64>,
    /// True when an irradiance sensor belongs to the site, so a performance ratio can be known.
    pub has_irradiance: bool,
    /// Performance ratio (0-1), IEC 61724-1, over the hours with production and irradiance data.
    pub performance_ratio: Option<f64>,
    /// Its highest power.
    pub peak: Option<Peak>,
    /// Its devices.
    pub devices: Vec<DeviceSummary>,
}

/// One bar of the chart: a day of a week or month, an hour of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartBar {
    /// Short label ("29", "Mo", "14h").
    pub label: String,
    /// Energy produced, kWh.
    pub kwh: f64,
}

/// A customer's period, all sites together.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryData {
    /// The period.
    pub period: SummaryPeriod,
    /// Totals over every site.
    pub totals: EnergyTotals,
    /// Produced in the period before, when there is data for it.
    pub previous_kwh: Option<f64>,
    /// Produced in the same period a year earlier, when there is data for it.
    pub last_year_kwh: Option<f64>,
    /// The highest power of any site.
    pub peak: Option<Peak>,
    /// kWh per kWp over all sites.
    pub specific_yield: Option<f64>,
    /// Installed kWp over all sites.
    pub capacity_kwp: f64,
    /// Each site.
    pub sites: Vec<SiteSummary>,
    /// Production over the period's days (or a day's hours).
    pub chart: Vec<ChartBar>,
}
