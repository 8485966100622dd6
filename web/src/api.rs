//! The JSON API (`/api/v1`), for integrators: the sites, any site's report for a day, month,
//! year or range, and raw readings. Authenticated with the provider's API tokens; answers come
//! from the same report functions as the panel.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use heliograph_shared::reports::{self, SiteReport, SiteStatus};
use heliograph_shared::{DeviceId, Metric, Reading, format};
use serde::{Deserialize, Serialize};

use crate::auth::Scope;
use crate::error::AppError;
use crate::pages::fleet::{faulty_devices, offline_after, open_alerts};
use crate::pages::site::{SiteContext, parse_period};

/// Most readings one API request returns.
pub const MAX_READINGS: usize = 10_000;

/// An API failure, as JSON; the status mapping is [`AppError`]'s.
pub struct ApiError(AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl From<heliograph_shared::store::StoreError> for ApiError {
    fn from(error: heliograph_shared::store::StoreError) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_json_response()
    }
}

/// A site in the list; power and energy rounded to their resolution (0.1 W, 0.1 Wh).
#[derive(Debug, Serialize)]
pub struct SiteSummary {
    id: String,
    site_name: String,
    customer_id: Option<String>,
    capacity_kwp: f64,
    timezone: String,
    /// Latitude and longitude, null when not set (daylight is then 06:00 to 20:00 local).
    location: Option<heliograph_shared::SiteLocation>,
    /// The site's own alert thresholds and maintenance window (nulls: the provider's, none).
    alerting: heliograph_shared::SiteAlerting,
    active: bool,
    status: SiteStatus,
    current_power_w: Option<f64>,
    /// Null when the site has reported nothing today (not a production of zero).
    today_production_wh: Option<f64>,
    /// Today's performance ratio (0-1, IEC 61724-1); null without an irradiance sensor or before
    /// enough sunlight was measured.
    today_performance_ratio: Option<f64>,
    last_seen: Option<DateTime<Utc>>,
}

/// `GET /api/v1/sites`.
pub async fn sites(scope: Scope) -> Result<Json<Vec<SiteSummary>>, ApiError> {
    let now = Utc::now();
    // The same status as the panel's: a site with an open fault alert is at fault.
    let alerts = open_alerts(&scope).await;
    let customers = scope.tenant.customers().await?;
    let mut out = Vec::new();
    for gateway in scope.tenant.gateways().await? {
        let customer = gateway.customer.and_then(|id| customers.iter().find(|c| c.id == id));
        let timezone = reports::site_timezone(customer, &scope.provider);
        let devices = scope.tenant.devices(&gateway.id).await?;
        let snapshot = reports::site_snapshot(
            scope.tenant.as_ref(),
            &gateway,
            &devices,
            timezone,
            &faulty_devices(&alerts, &gateway.id),
            now,
            offline_after(&scope, &gateway),
        )
        .await?;
        out.push(SiteSummary {
            id: gateway.id.to_string(),
            site_name: gateway.site_name.clone(),
            customer_id: gateway.customer.map(|c| c.to_string()),
            capacity_kwp: gateway.capacity_kwp,
            timezone: timezone.name().to_owned(),
            location: gateway.location,
            alerting: gateway.alerting,
            active: gateway.active,
            status: snapshot.status,
            current_power_w: snapshot.current_power.map(|w| format::rounded(Metric::AcPower, w)),
            today_production_wh: snapshot
                .today
                .coverage
                .measured()
                .then(|| format::rounded(Metric::Energy, snapshot.today.total.production_wh)),
            today_performance_ratio: snapshot.today.performance_ratio.map(round_figure),
            last_seen: gateway.last_seen,
        });
    }
    Ok(Json(out))
}

/// `GET /api/v1/sites/{id}/{view}/{period}`: the same report the panel shows.
pub async fn report(
    scope: Scope,
    Path((id, view, key)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let site = SiteContext::load(&scope, &id).await?;
    let period = parse_period(&view, &key)?;
    let report: SiteReport = site.report(&scope, period, Utc::now()).await?;
    let mut json = serde_json::to_value(report).map_err(|e| AppError::Internal(e.to_string()))?;
    round_figures(&mut json);
    Ok(Json(json))
}

/// Decimals every figure of a report is given in: a thousandth of a watt-hour, a watt, a
/// kWh/kWp or of availability's share is beyond any meter's resolution, and sums of binary
/// floats would otherwise show as 1025926.9999999999.
const REPORT_DECIMALS: i32 = 3;

/// One figure to [`REPORT_DECIMALS`], never a negative zero.
fn round_figure(value: f64) -> f64 {
    let scale = 10f64.powi(REPORT_DECIMALS);
    (value * scale).round() / scale + 0.0
}

/// Rounds every number in `value` to [`REPORT_DECIMALS`] (integers stay as they are).
fn round_figures(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) if number.is_f64() => {
            if let Some(rounded) = number.as_f64().and_then(|v| serde_json::Number::from_f64(round_figure(v)))
            {
                *number = rounded;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(round_figures),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(round_figures),
        _ => {}
    }
}

/// `?device=…&from=…&to=…&limit=…` (RFC 3339 instants).
#[derive(Debug, Deserialize)]
pub struct ReadingsQuery {
    device: String,
    from: String,
    to: String,
    limit: Option<usize>,
}

/// One reading, metrics by name in canonical units, rounded to each metric's resolution.
#[derive(Debug, Serialize)]
pub struct ReadingView {
    ts: DateTime<Utc>,
    device: DeviceId,
    status: Option<String>,
    metrics: serde_json::Map<String, serde_json::Value>,
}

impl From<Reading> for ReadingView {
    fn from(reading: Reading) -> Self {
        let mut metrics = serde_json::Map::new();
        for (metric, value) in reading.metrics.iter() {
            metrics.insert(metric.name().to_owned(), format::rounded(metric, value).into());
        }
        for (name, value) in &reading.metrics.extra {
            metrics.insert(name.clone(), (*value).into());
        }
        Self {
            ts: reading.ts,
            device: reading.device,
            status: reading.status.map(|s| s.to_string()),
            metrics,
        }
    }
}

/// The readings answer: rows, and where the next page starts when there is more.
#[derive(Debug, Serialize)]
pub struct ReadingsPage {
    readings: Vec<ReadingView>,
    next_from: Option<DateTime<Utc>>,
    units: serde_json::Map<String, serde_json::Value>,
    /// Each metric's name for people ("AC power"), as the panel heads its column.
    labels: serde_json::Map<String, serde_json::Value>,
}

/// `GET /api/v1/sites/{id}/readings`.
pub async fn readings(
    scope: Scope,
    Path(id): Path<String>,
    Query(query): Query<ReadingsQuery>,
) -> Result<Json<ReadingsPage>, ApiError> {
    let site = SiteContext::load(&scope, &id).await?;
    let device = DeviceId::parse(&query.device).map_err(|_| AppError::NotFound)?;
    if !site.devices.iter().any(|d| d.id == device) {
        return Err(AppError::NotFound.into());
    }
    let instant = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| AppError::BadRequest(format!("{text:?} is not an RFC 3339 instant")))
    };
    let (from, to) = (instant(&query.from)?, instant(&query.to)?);
    let limit = query.limit.unwrap_or(1_000).clamp(1, MAX_READINGS);
    let mut rows = scope.tenant.readings(&site.gateway.id, &device, from..to, limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_from = if more { rows.last().map(|r| r.ts + TimeDelta::milliseconds(1)) } else { None };
    let units =
        Metric::ALL.iter().map(|m| (m.name().to_owned(), m.quantity().canonical_symbol().into())).collect();
    let labels = Metric::ALL.iter().map(|m| (m.name().to_owned(), format::metric_label(*m).into())).collect();
    Ok(Json(ReadingsPage {
        readings: rows.into_iter().map(ReadingView::from).collect(),
        next_from,
        units,
        labels,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_figures_carry_no_float_noise_and_no_negative_zero() {
        let mut json = serde_json::json!({
            "total": {"production_wh": 1_025_926.999_999_999_9, "grid_export_wh": -0.000_000_1},
            "buckets": [{"peak": {"watts": 3_100.000_000_4}, "label": "01"}],
            "availability": 0.987_654_3,
            "samples": 17,
        });
        round_figures(&mut json);
        assert_eq!(json["total"]["production_wh"].to_string(), "1025927.0");
        assert_eq!(json["total"]["grid_export_wh"].to_string(), "0.0");
        assert_eq!(json["buckets"][0]["peak"]["watts"].to_string(), "3100.0");
        assert_eq!(json["availability"].to_string(), "0.988");
        assert_eq!(json["samples"].to_string(), "17");
        assert_eq!(json["buckets"][0]["label"], "01");
    }
}
