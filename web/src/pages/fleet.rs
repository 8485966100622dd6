//! The fleet overview: every site with its current power, today's energy, state and open
//! alerts, totals on top, searchable, filterable by state and sortable (by a column, or needs
//! attention first) through the query string.

use std::cmp::Ordering;
use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use heliograph_shared::reports::{self, SiteSnapshot, SiteStatus};
use heliograph_shared::{Alert, AlertKind, Customer, CustomerId, DeviceId, Gateway, GatewayId};
use serde::Deserialize;

use super::{Layout, render};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;
use crate::state::AppState;

/// `?q=…&status=online|offline|fault|inactive&sort=…&order=asc|desc`.
#[derive(Debug, Default, Deserialize)]
pub struct FleetQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
}

/// What the overview can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Site,
    Customer,
    Capacity,
    Power,
    Today,
    Yield,
    /// Today's performance ratio (sites with an irradiance sensor).
    Pr,
    Status,
    /// Faults, then offline sites, then sites with open alerts, most alerts first.
    Attention,
}

impl SortKey {
    const ALL: [(SortKey, &'static str, &'static str); 8] = [
        (SortKey::Site, "site", "Site"),
        (SortKey::Customer, "customer", "Customer"),
        (SortKey::Capacity, "capacity", "Capacity"),
        (SortKey::Power, "power", "Power now"),
        (SortKey::Today, "today", "Today"),
        (SortKey::Yield, "yield", "Specific yield"),
        (SortKey::Pr, "pr", "PR"),
        (SortKey::Status, "status", "Status"),
    ];

    fn parse(word: &str) -> Self {
        if word == "attention" {
            return Self::Attention;
        }
        Self::ALL.iter().find(|(_, w, _)| *w == word).map_or(SortKey::Site, |(k, _, _)| *k)
    }

    fn word(self) -> &'static str {
        if self == Self::Attention {
            return "attention";
        }
        Self::ALL.iter().find(|(k, _, _)| *k == self).map_or("site", |(_, w, _)| w)
    }

    /// Figures sort largest first by default, names alphabetically.
    fn descending_by_default(self) -> bool {
        matches!(self, Self::Capacity | Self::Power | Self::Today | Self::Yield | Self::Pr)
    }
}

struct Row {
    id: String,
    site_name: String,
    customer: String,
    customer_id: String,
    capacity: String,
    power: String,
    today: String,
    specific_yield: String,
    performance_ratio: String,
    status: &'static str,
    status_text: String,
    alerts: Vec<String>,
    /// "Maintenance until …: alerts muted" while the site's window is on.
    maintenance: String,
    sort: (f64, f64, f64, f64, u8, f64),
    state: &'static str,
}

struct Header {
    label: &'static str,
    href: String,
    arrow: &'static str,
    numeric: bool,
    /// Dropped on narrow screens.
    optional: bool,
}

/// A state chip that filters the fleet: the count, and the link that shows only those sites.
struct Chip {
    word: &'static str,
    label: String,
    href: String,
    active: bool,
}

struct Totals {
    sites: usize,
    power: String,
    today: String,
    capacity: String,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    layout: Layout,
    q: String,
    sort: String,
    order: String,
    status: String,
    chips: Vec<Chip>,
    all_href: String,
    attention_href: String,
    attention: bool,
    headers: Vec<Header>,
    rows: Vec<Row>,
    totals: Totals,
    of_all: usize,
}

/// `/sites?…` with the parameters that are set.
fn fleet_href(q: &str, status: &str, sort: &str, order: &str) -> String {
    let params: Vec<(&str, &str)> = [("q", q), ("status", status), ("sort", sort), ("order", order)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if params.is_empty() {
        return "/sites".into();
    }
    format!("/sites?{}", serde_urlencoded::to_string(params).unwrap_or_default())
}

/// `GET /`: the fleet is the home page.
pub async fn home() -> Redirect {
    Redirect::to("/sites")
}

/// `GET /sites`.
pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    scope: Scope,
    Query(query): Query<FleetQuery>,
) -> Result<Html<String>, AppError> {
    let now = Utc::now();
    let gateways = scope.tenant.gateways().await?;
    let customers: HashMap<CustomerId, Customer> =
        scope.tenant.customers().await?.into_iter().map(|c| (c.id, c)).collect();
    let alerts = open_alerts(&scope).await;
    let of_all = gateways.len();
    let needle = query.q.trim().to_lowercase();
    let customer_of = |g: &Gateway| g.customer.and_then(|id| customers.get(&id));
    let matching: Vec<Gateway> = gateways
        .into_iter()
        .filter(|g| {
            needle.is_empty()
                || g.site_name.to_lowercase().contains(&needle)
                || g.id.as_str().to_lowercase().contains(&needle)
                || customer_of(g).is_some_and(|c| c.name.to_lowercase().contains(&needle))
        })
        .collect();
    let snapshots: Vec<(Gateway, SiteSnapshot)> = stream::iter(matching)
        .map(|gateway| {
            let scope = &scope;
            let alerts = &alerts;
            let timezone = reports::site_timezone(customer_of(&gateway), &scope.provider);
            async move {
                let devices = scope.tenant.devices(&gateway.id).await?;
                let faulty = faulty_devices(alerts, &gateway.id);
                let snapshot = reports::site_snapshot(
                    scope.tenant.as_ref(),
                    &gateway,
                    &devices,
                    timezone,
                    &faulty,
                    now,
                    offline_after(scope, &gateway),
                )
                .await?;
                Ok::<_, AppError>((gateway, snapshot))
            }
        })
        .buffered(state.settings.fleet_concurrency.max(1))
        .try_collect()
        .await?;

    let mut rows: Vec<Row> = snapshots
        .iter()
        .map(|(gateway, snapshot)| {
            let customer = customer_of(gateway);
            let site_alerts: Vec<String> = alerts
                .iter()
                .filter(|a| a.gateway == gateway.id)
                .map(|a| fleet_alert_text(a, scope.provider.timezone))
                .collect();
            row(gateway, customer, snapshot, site_alerts, scope.provider.timezone, now)
        })
        .collect();
    let key = SortKey::parse(&query.sort);
    let descending = match query.order.as_str() {
        "asc" => false,
        "desc" => true,
        _ => key.descending_by_default(),
    };
    sort_rows(&mut rows, key, descending);
    // The chips count every site the search matched; the filter then narrows the table.
    let status = STATES.iter().find(|w| **w == query.status).copied().unwrap_or("");
    let count = |word: &str| snapshots.iter().filter(|(_, s)| s.status.word() == word).count();
    let order_param = if query.order.is_empty() { "" } else { query.order.as_str() };
    let sort_param = if query.sort.is_empty() { "" } else { key.word() };
    let chips = STATES
        .iter()
        .map(|word| Chip {
            word,
            label: format!("{} {word}", count(word)),
            href: fleet_href(&needle, if status == *word { "" } else { word }, sort_param, order_param),
            active: status == *word,
        })
        .collect();
    if !status.is_empty() {
        rows.retain(|r| r.state == status);
    }

    // The totals add up the sites the table shows.
    let shown: Vec<&(Gateway, SiteSnapshot)> =
        snapshots.iter().filter(|(_, s)| status.is_empty() || s.status.word() == status).collect();
    let totals = Totals {
        sites: rows.len(),
        power: format::power(shown.iter().filter_map(|(_, s)| s.current_power).sum()),
        today: format::energy(shown.iter().map(|(_, s)| s.today.total.production_wh).sum()),
        capacity: format::capacity(shown.iter().map(|(g, _)| g.capacity_kwp).sum::<f64>()),
    };
    let headers = SortKey::ALL
        .iter()
        .map(|(k, word, label)| {
            let current = *k == key;
            let next_descending = if current { !descending } else { k.descending_by_default() };
            let order = if next_descending { "desc" } else { "asc" };
            Header {
                label,
                href: fleet_href(&needle, status, word, order),
                arrow: match (current, descending) {
                    (false, _) => "",
                    (true, true) => " ↓",
                    (true, false) => " ↑",
                },
                numeric: k.descending_by_default(),
                optional: matches!(k, SortKey::Customer | SortKey::Capacity | SortKey::Pr),
            }
        })
        .collect();
    render(&FleetPage {
        layout: Layout::new(&scope, &session, "fleet"),
        q: query.q.trim().chars().take(100).collect(),
        sort: key.word().to_owned(),
        order: if descending { "desc".into() } else { "asc".into() },
        status: status.to_owned(),
        chips,
        all_href: fleet_href(&needle, "", sort_param, order_param),
        attention_href: fleet_href(&needle, status, "attention", ""),
        attention: key == SortKey::Attention,
        headers,
        rows,
        totals,
        of_all,
    })
}

/// The states the fleet can be filtered by, in the order their chips appear.
const STATES: [&str; 4] = ["fault", "offline", "online", "inactive"];

/// Open alerts, or none where the backend does not keep alerts yet (the column stays empty).
/// How long `site` may be silent in daylight before it counts as offline: its own threshold,
/// else its provider's. The fleet, the site page and the API judge it alike.
pub fn offline_after(scope: &Scope, site: &Gateway) -> TimeDelta {
    TimeDelta::minutes(i64::from(scope.provider.preferences.offline_after_minutes_for(site)))
}

/// The devices of `site` with an open fault alert: what makes its status a fault, on every page
/// and in the API.
pub fn faulty_devices(alerts: &[Alert], site: &GatewayId) -> Vec<DeviceId> {
    alerts
        .iter()
        .filter(|a| a.kind == AlertKind::DeviceFault && a.gateway == *site)
        .filter_map(|a| a.device.clone())
        .collect()
}

pub async fn open_alerts(scope: &Scope) -> Vec<Alert> {
    scope.tenant.open_alerts().await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "open alerts unavailable");
        Vec::new()
    })
}

/// "Underperformance: produced 41 % of its recent median".
pub fn alert_text(alert: &Alert) -> String {
    let kind = match alert.kind {
        AlertKind::SiteOffline => "Offline",
        AlertKind::DeviceFault => "Device fault",
        AlertKind::Underperformance => "Underperformance",
    };
    // An underperformance says what it was measured against: the sensor's irradiance weighs
    // more than the peers' median, and whoever reads it should know which one spoke.
    match (&alert.device, alert.basis) {
        (Some(device), _) => format!("{kind} ({device}): {}", alert.detail),
        (None, Some(basis)) => format!("{kind} ({}): {}", basis.words(), alert.detail),
        (None, None) => format!("{kind}: {}", alert.detail),
    }
}

/// An alert as the fleet lists it: what it says, and who took it on.
fn fleet_alert_text(alert: &Alert, tz: chrono_tz::Tz) -> String {
    match super::alerts::acknowledgement_text(alert, tz) {
        taken if taken.is_empty() => alert_text(alert),
        taken => format!("{} ({taken})", alert_text(alert)),
    }
}

/// "Online", "Offline since 2026-06-01 14:05", "Fault: inv-1", "Deactivated".
pub fn status_text(status: &SiteStatus, timezone: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    match status {
        SiteStatus::Online => "Online".into(),
        SiteStatus::Offline { since: Some(at) } => {
            format!("Offline since {} ({})", format::local_datetime(*at, timezone), format::ago(*at, now))
        }
        SiteStatus::Offline { since: None } => "Never seen".into(),
        SiteStatus::Fault { devices } => {
            let names: Vec<&str> = devices.iter().map(DeviceId::as_str).collect();
            format!("Fault: {}", names.join(", "))
        }
        SiteStatus::Inactive => "Deactivated".into(),
    }
}

fn row(
    gateway: &Gateway,
    customer: Option<&Customer>,
    snapshot: &SiteSnapshot,
    alerts: Vec<String>,
    provider_zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Row {
    let today = &snapshot.today;
    let rank = match snapshot.status {
        SiteStatus::Fault { .. } => 0,
        SiteStatus::Offline { .. } => 1,
        SiteStatus::Online => 2,
        SiteStatus::Inactive => 3,
    };
    Row {
        id: gateway.id.to_string(),
        site_name: gateway.site_name.clone(),
        customer: customer.map(|c| c.name.clone()).unwrap_or_default(),
        customer_id: customer.map(|c| c.id.to_string()).unwrap_or_default(),
        capacity: format::capacity(gateway.capacity_kwp),
        power: format::power_or_dash(snapshot.current_power),
        // A site that has not reported today has no figure for today, not a zero.
        today: if today.coverage.measured() {
            format::energy(today.total.production_wh)
        } else {
            "–".into()
        },
        specific_yield: format::specific_yield(today.specific_yield.filter(|_| today.coverage.measured())),
        performance_ratio: format::performance_ratio(today.performance_ratio),
        status: snapshot.status.word(),
        status_text: status_text(&snapshot.status, today.timezone, now),
        alerts,
        maintenance: super::site_alerting::maintenance_text(&gateway.alerting, provider_zone, now),
        sort: (
            gateway.capacity_kwp,
            snapshot.current_power.unwrap_or(-1.0),
            today.total.production_wh,
            today.specific_yield.unwrap_or(-1.0),
            rank,
            today.performance_ratio.unwrap_or(-1.0),
        ),
        state: snapshot.status.word(),
    }
}

/// How urgently a site needs someone, lowest first: a fault, offline, open alerts (more first),
/// then fine, then deactivated (nobody is expected to look).
fn attention(row: &Row) -> (u8, std::cmp::Reverse<usize>) {
    let rank = match row.sort.4 {
        2 if !row.alerts.is_empty() => 2,
        2 => 3,
        3 => 4,
        other => other,
    };
    (rank, std::cmp::Reverse(row.alerts.len()))
}

fn sort_rows(rows: &mut [Row], key: SortKey, descending: bool) {
    let by_name = |a: &Row, b: &Row| a.site_name.to_lowercase().cmp(&b.site_name.to_lowercase());
    rows.sort_by(|a, b| {
        let primary = match key {
            SortKey::Site => by_name(a, b),
            SortKey::Customer => a.customer.to_lowercase().cmp(&b.customer.to_lowercase()),
            SortKey::Capacity => a.sort.0.total_cmp(&b.sort.0),
            SortKey::Power => a.sort.1.total_cmp(&b.sort.1),
            SortKey::Today => a.sort.2.total_cmp(&b.sort.2),
            SortKey::Yield => a.sort.3.total_cmp(&b.sort.3),
            SortKey::Pr => a.sort.5.total_cmp(&b.sort.5),
            SortKey::Status => a.sort.4.cmp(&b.sort.4),
            SortKey::Attention => attention(a).cmp(&attention(b)),
        };
        let primary = if descending { primary.reverse() } else { primary };
        if primary == Ordering::Equal { by_name(a, b) } else { primary }
    });
}

#[cfg(test)]
mod tests {
    use heliograph_shared::{AlertBasis, GatewayId};

    use super::*;

    #[test]
    fn an_underperformance_says_whether_irradiance_or_peers_set_the_expectation() {
        let gateway = GatewayId::parse("GW-1").expect("valid id");
        let alert =
            Alert::open(AlertKind::Underperformance, gateway, None, None, Utc::now(), "made little".into());
        assert_eq!(
            alert_text(&alert.clone().with_basis(Some(AlertBasis::Irradiance))),
            "Underperformance (expected from the irradiance measured on site): made little"
        );
        assert_eq!(
            alert_text(&alert.clone().with_basis(Some(AlertBasis::Peers))),
            "Underperformance (compared with other sites on the same day): made little"
        );
        assert_eq!(alert_text(&alert), "Underperformance: made little");
    }
}
