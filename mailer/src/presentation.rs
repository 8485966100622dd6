//! Turns summary data and alerts into what the templates print: formatted numbers in the
//! customer's timezone, bar heights, labels. Pure; the templates hold no arithmetic.

use chrono_tz::Tz;
use heliograph_shared::format;
use heliograph_shared::{Alert, AlertKind};

use crate::summary::figures::{DeviceSummary, EnergyTotals, Peak, SiteSummary, SummaryData};

/// Tallest bar of the HTML chart, pixels.
pub const CHART_HEIGHT_PX: u32 = 120;
/// Longest bar of the plain-text chart, characters.
const TEXT_BAR_WIDTH: usize = 28;

/// What every email's frame shows.
#[derive(Debug, Clone)]
pub struct Page {
    /// The provider's brand.
    pub brand: String,
    /// The heading.
    pub title: String,
    /// The hidden preview line mail programs show next to the subject.
    pub preheader: String,
    /// Why the customer gets this mail.
    pub reason: String,
    /// Where to stop it.
    pub unsubscribe_url: String,
}

/// A labelled figure ("Peak power", "7.9 kW at 13:05").
#[derive(Debug, Clone)]
pub struct Figure {
    /// Label.
    pub label: &'static str,
    /// Value with unit.
    pub value: String,
}

/// A change against an earlier period.
#[derive(Debug, Clone)]
pub struct Change {
    /// "compared with February 2026".
    pub against: String,
    /// "+12 %".
    pub text: String,
    /// True when more than before.
    pub up: bool,
}

/// One bar of the chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Label under the bar (empty to thin out crowded axes).
    pub label: String,
    /// Height of the filled part, px (at least 1 so the axis shows).
    pub height_px: u32,
    /// Height of the empty part above it, px.
    pub gap_px: u32,
    /// The value, for the tooltip and the text version.
    pub value: String,
    /// The plain-text bar.
    pub text_bar: String,
    /// The label for the text version (never thinned).
    pub text_label: String,
}

/// A device row.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// "Inverter inv-1 (Fronius Symo)".
    pub name: String,
    /// Energy.
    pub energy: String,
    /// Peak power.
    pub peak: String,
}

/// A site block.
#[derive(Debug, Clone)]
pub struct SiteRow {
    /// Name.
    pub name: String,
    /// "9.8 kWp".
    pub capacity: String,
    /// Energy produced.
    pub energy: String,
    /// kWh/kWp.
    pub specific_yield: String,
    /// "84.2 %", or a dash without enough sunlight; none for a site without an irradiance
    /// sensor (the line is left out).
    pub performance_ratio: Option<String>,
    /// Peak power.
    pub peak: String,
    /// Devices.
    pub devices: Vec<DeviceRow>,
}

/// An alert line.
#[derive(Debug, Clone)]
pub struct AlertRow {
    /// "Site offline".
    pub title: String,
    /// "Huber residence, inverter inv-1".
    pub subject: String,
    /// The detail sentence.
    pub detail: String,
    /// "since 29 Mar 10:05" or "29 Mar 10:05 – 11:40".
    pub when: String,
    /// True once cleared.
    pub cleared: bool,
}

/// Everything a summary email prints.
#[derive(Debug, Clone)]
pub struct SummaryView {
    /// Frame.
    pub page: Page,
    /// "Dear Huber family".
    pub greeting: String,
    /// "March 2026".
    pub period_label: String,
    /// "monthly".
    pub adjective: &'static str,
    /// "1,234 kWh".
    pub produced: String,
    /// Changes against the previous period and a year earlier.
    pub changes: Vec<Change>,
    /// Key figures.
    pub figures: Vec<Figure>,
    /// The chart.
    pub bars: Vec<Bar>,
    /// The chart's scale ("max 41.2 kWh").
    pub chart_scale: String,
    /// Sites.
    pub sites: Vec<SiteRow>,
    /// Alerts in the period.
    pub alerts: Vec<AlertRow>,
    /// The subject line.
    pub subject: String,
}

/// Everything an alert email prints.
#[derive(Debug, Clone)]
pub struct AlertView {
    /// Frame.
    pub page: Page,
    /// "Dear Huber family".
    pub greeting: String,
    /// Alerts that opened.
    pub opened: Vec<AlertRow>,
    /// Alerts that cleared.
    pub cleared: Vec<AlertRow>,
    /// The subject line.
    pub subject: String,
}

/// Energy given in kWh, written by the rule the panel and CSV share: "56.7 kWh", "1 234 kWh".
pub fn kwh(value: f64) -> String {
    format::energy(value * 1_000.0)
}

/// "+12 %" / "-8 %" from now against before; `None` when before is zero.
pub fn change(now: f64, before: f64) -> Option<(String, bool)> {
    if before <= 0.0 {
        return None;
    }
    let percent = (now - before) / before * 100.0;
    let rounded = percent.round();
    let text = if rounded > 0.0 {
        format!("+{rounded:.0} %")
    } else if rounded < 0.0 {
        format!("-{:.0} %", rounded.abs())
    } else {
        "±0 %".to_owned()
    };
    Some((text, percent >= 0.0))
}

fn peak_text(peak: Option<&Peak>, tz: Tz, with_date: bool) -> String {
    match peak {
        Some(p) if with_date => {
            format!("{} on {}", format::power(p.kw * 1_000.0), format::local_datetime(p.at, tz))
        }
        Some(p) => format!("{} at {}", format::power(p.kw * 1_000.0), format::local_time(p.at, tz)),
        None => "–".to_owned(),
    }
}

fn device_row(device: &DeviceSummary, tz: Tz, with_date: bool) -> DeviceRow {
    let mut name = format!("{} {}", format::device_kind(device.kind), device.id);
    if let Some(model) = &device.model {
        name.push_str(&format!(" ({model})"));
    }
    if device.energy_kwh.is_none() && device.grid_kwh.is_some() {
        name.push_str(", from / to the grid");
    }
    DeviceRow {
        name,
        energy: match (device.energy_kwh, device.grid_kwh) {
            (Some(e), _) => kwh(e),
            (None, Some((import, export))) => format!("{} / {}", kwh(import), kwh(export)),
            (None, None) => "–".to_owned(),
        },
        peak: peak_text(device.peak.as_ref(), tz, with_date),
    }
}

fn site_row(site: &SiteSummary, tz: Tz, with_date: bool) -> SiteRow {
    SiteRow {
        name: site.name.clone(),
        capacity: format::capacity(site.capacity_kwp),
        energy: kwh(site.totals.produced_kwh),
        specific_yield: site
            .specific_yield
            .map_or_else(|| format::MISSING.to_owned(), format::specific_yield),
        performance_ratio: site.has_irradiance.then(|| {
            site.performance_ratio.map_or_else(|| format::MISSING.to_owned(), format::performance_ratio)
        }),
        peak: peak_text(site.peak.as_ref(), tz, with_date),
        devices: site.devices.iter().map(|d| device_row(d, tz, with_date)).collect(),
    }
}

fn figures(data: &SummaryData, tz: Tz, with_date: bool) -> Vec<Figure> {
    let EnergyTotals { consumed_kwh, imported_kwh, exported_kwh, self_consumed_kwh, .. } = &data.totals;
    let mut figures =
        vec![Figure { label: "Peak power", value: peak_text(data.peak.as_ref(), tz, with_date) }];
    if let Some(y) = data.specific_yield {
        figures.push(Figure {
            label: "Specific yield",
            value: format!(
                "{} ({} installed)",
                format::specific_yield(y),
                format::capacity(data.capacity_kwp)
            ),
        });
    }
    for (label, value) in [
        ("Consumed", consumed_kwh),
        ("Self-consumed", self_consumed_kwh),
        ("Drawn from the grid", imported_kwh),
        ("Fed into the grid", exported_kwh),
    ] {
        if let Some(v) = value {
            figures.push(Figure { label, value: kwh(*v) });
        }
    }
    figures
}

fn bars(data: &SummaryData) -> Vec<Bar> {
    let max = data.chart.iter().map(|b| b.kwh).fold(0.0_f64, f64::max);
    let crowded = data.chart.len() > 12;
    data.chart
        .iter()
        .enumerate()
        .map(|(i, bar)| {
            let share = if max > 0.0 { (bar.kwh / max).clamp(0.0, 1.0) } else { 0.0 };
            // Rounded, not truncated, so the tallest bar is exactly the chart's height.
            let height_px = ((share * f64::from(CHART_HEIGHT_PX)).round() as u32).clamp(1, CHART_HEIGHT_PX);
            let shown = !crowded || i == 0 || (i + 1) % 5 == 0;
            let text_len = (share * TEXT_BAR_WIDTH as f64).round() as usize;
            Bar {
                label: if shown { bar.label.clone() } else { String::new() },
                height_px,
                gap_px: CHART_HEIGHT_PX - height_px,
                value: kwh(bar.kwh),
                text_bar: "#".repeat(text_len),
                text_label: bar.label.clone(),
            }
        })
        .collect()
}

/// Describes alerts for people, with times in `tz`; `site_name` finds a gateway's site name.
pub fn alert_row(
    alert: &Alert,
    tz: Tz,
    site_name: &dyn Fn(&heliograph_shared::GatewayId) -> String,
) -> AlertRow {
    let title = match alert.kind {
        AlertKind::SiteOffline => "Site offline",
        AlertKind::DeviceFault => "Device fault",
        AlertKind::Underperformance => "Low production",
    };
    // Which reference a low production was measured against (irradiance, peers, history).
    let title = match alert.basis {
        Some(basis) => format!("{title} ({})", basis.words()),
        None => title.to_owned(),
    };
    let mut subject = site_name(&alert.gateway);
    if let Some(device) = &alert.device {
        subject.push_str(&format!(", device {device}"));
    }
    let when = match alert.cleared_at {
        Some(cleared) => {
            format!(
                "{} – {}",
                format::local_datetime(alert.opened_at, tz),
                format::local_datetime(cleared, tz)
            )
        }
        None => format!("since {}", format::local_datetime(alert.opened_at, tz)),
    };
    AlertRow { title, subject, detail: alert.detail.clone(), when, cleared: alert.cleared_at.is_some() }
}

/// The inputs of a summary email besides its data.
pub struct SummaryContext<'a> {
    /// The provider's brand.
    pub brand: &'a str,
    /// The customer's name.
    pub customer_name: &'a str,
    /// The customer's timezone.
    pub tz: Tz,
    /// Alerts in the period, already described.
    pub alerts: Vec<AlertRow>,
    /// The unsubscribe link.
    pub unsubscribe_url: String,
}

/// Builds the summary view.
pub fn summary(data: &SummaryData, context: SummaryContext<'_>) -> SummaryView {
    let tz = context.tz;
    let with_date = data.period.kind() != crate::summary::Cadence::Day;
    let period_label = data.period.label();
    let adjective = data.period.kind().adjective();
    let produced = kwh(data.totals.produced_kwh);
    let mut changes = Vec::new();
    if let Some((text, up)) = data.previous_kwh.and_then(|p| change(data.totals.produced_kwh, p)) {
        changes.push(Change {
            against: format!("compared with {}", data.period.previous().label()),
            text,
            up,
        });
    }
    if let (Some((text, up)), Some(earlier)) =
        (data.last_year_kwh.and_then(|p| change(data.totals.produced_kwh, p)), data.period.a_year_earlier())
    {
        changes.push(Change { against: format!("compared with {}", earlier.label()), text, up });
    }
    let subject =
        format!("{}: your {adjective} solar summary for {period_label} ({produced})", context.brand);
    let preheader = match changes.first() {
        Some(c) => format!("Your plants produced {produced} in {period_label}, {} {}.", c.text, c.against),
        None => format!("Your plants produced {produced} in {period_label}."),
    };
    let chart_max = data.chart.iter().map(|b| b.kwh).fold(0.0_f64, f64::max);
    SummaryView {
        page: Page {
            brand: context.brand.to_owned(),
            title: format!("Your {adjective} solar summary"),
            preheader,
            reason: format!(
                "You receive this {adjective} summary because {} monitors your solar plants.",
                context.brand
            ),
            unsubscribe_url: context.unsubscribe_url,
        },
        greeting: format!("Dear {},", context.customer_name),
        period_label,
        adjective,
        produced,
        changes,
        figures: figures(data, tz, with_date),
        bars: bars(data),
        chart_scale: format!("tallest bar {}", kwh(chart_max)),
        sites: data.sites.iter().map(|s| site_row(s, tz, with_date)).collect(),
        alerts: context.alerts,
        subject,
    }
}

/// Builds the alert view from described alerts.
pub fn alerts(
    brand: &str,
    customer_name: &str,
    opened: Vec<AlertRow>,
    cleared: Vec<AlertRow>,
    unsubscribe_url: String,
) -> AlertView {
    let subject = match (opened.len(), cleared.len()) {
        (0, n) => format!("{brand}: {n} alert{} cleared at your solar plants", plural(n)),
        (n, 0) => format!("{brand}: {n} new alert{} at your solar plants", plural(n)),
        (n, m) => format!("{brand}: {n} new alert{}, {m} cleared at your solar plants", plural(n)),
    };
    let preheader =
        opened.first().or(cleared.first()).map(|a| format!("{}: {}", a.title, a.subject)).unwrap_or_default();
    AlertView {
        page: Page {
            brand: brand.to_owned(),
            title: "Alerts for your solar plants".to_owned(),
            preheader,
            reason: format!("You receive alert emails because {brand} monitors your solar plants."),
            unsubscribe_url,
        },
        greeting: format!("Dear {customer_name},"),
        opened,
        cleared,
        subject,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use heliograph_shared::AlertBasis;

    use super::*;

    #[test]
    fn energies_are_written_as_the_panel_writes_them() {
        assert_eq!(kwh(1234.4).replace('\u{202f}', " "), "1 234 kWh");
        assert_eq!(kwh(56.74), "56.74 kWh");
        assert_eq!(kwh(3.214), "3.21 kWh");
        assert_eq!(kwh(0.0), "0 kWh");
        assert_eq!(kwh(-0.0001), "0 kWh");
    }

    #[test]
    fn changes_are_signed_percentages_and_unknown_without_a_baseline() {
        assert_eq!(change(112.0, 100.0), Some(("+12 %".to_owned(), true)));
        assert_eq!(change(92.0, 100.0), Some(("-8 %".to_owned(), false)));
        assert_eq!(change(10.0, 0.0), None);
    }

    #[test]
    fn a_low_production_alert_says_what_it_was_measured_against() {
        let at = DateTime::parse_from_rfc3339("2026-06-03T20:00:00Z").expect("valid").with_timezone(&Utc);
        let gateway = heliograph_shared::GatewayId::parse("GW-1").expect("valid id");
        let alert = Alert::open(AlertKind::Underperformance, gateway, None, None, at, "made little".into());
        let name = |_: &heliograph_shared::GatewayId| "Barn".to_owned();
        let sensed = alert_row(&alert.clone().with_basis(Some(AlertBasis::Irradiance)), Tz::UTC, &name);
        assert_eq!(sensed.title, "Low production (expected from the irradiance measured on site)");
        let compared = alert_row(&alert.clone().with_basis(Some(AlertBasis::Peers)), Tz::UTC, &name);
        assert_eq!(compared.title, "Low production (compared with other sites on the same day)");
        assert_eq!(alert_row(&alert, Tz::UTC, &name).title, "Low production");
    }
}
