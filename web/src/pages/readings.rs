//! Raw readings of one device over a time range: a paginated table (keyset pagination by
//! timestamp, so page 500 costs what page 1 costs) and a streamed CSV export.

use std::ops::Range;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::response::{Html, Response};
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use futures::stream;
use heliograph_shared::reports::csv::{readings_csv_header, readings_csv_rows};
use heliograph_shared::reports::period::{local_date, local_midnight};
use heliograph_shared::store::TenantStore;
use heliograph_shared::{Device, DeviceId, GatewayId, Metric, Reading};
use serde::Deserialize;

use super::site::{SiteContext, csv_response};
use super::{Layout, render};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::error::AppError;
use crate::format;

/// Rows per page.
pub const PAGE: usize = 100;
/// Rows read per store request while streaming a CSV.
const CSV_CHUNK: usize = 5_000;

/// `?device=…&from=…&to=…&after=…` (`from`/`to` local `YYYY-MM-DDTHH:MM`, `after` RFC 3339).
#[derive(Debug, Default, Deserialize)]
pub struct ReadingsQuery {
    device: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

/// The device and time range a readings request asks for.
pub struct Selection {
    /// The device.
    pub device: Device,
    /// Every device of the site.
    pub devices: Vec<Device>,
    /// The range, UTC.
    pub range: Range<DateTime<Utc>>,
    /// The site's timezone.
    pub timezone: Tz,
    /// The gateway.
    pub gateway: GatewayId,
    /// Site name.
    pub site_name: String,
}

/// A local `YYYY-MM-DDTHH:MM` in `tz`.
fn local_input(text: &str, tz: Tz) -> Result<DateTime<Utc>, AppError> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::BadRequest("times are written 2026-06-01T14:00".into()))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| AppError::BadRequest("that local time does not exist (daylight-saving change)".into()))
}

impl Selection {
    /// Resolves a request within the caller's provider; another provider's site or an unknown
    /// device is not found. The default range is today, local.
    pub async fn resolve(scope: &Scope, id: &str, query: &ReadingsQuery) -> Result<Self, AppError> {
        let site = SiteContext::load(scope, id).await?;
        let device = match query.device.as_deref().filter(|d| !d.is_empty()) {
            Some(wanted) => {
                let wanted = DeviceId::parse(wanted).map_err(|_| AppError::NotFound)?;
                site.devices.iter().find(|d| d.id == wanted).cloned().ok_or(AppError::NotFound)?
            }
            None => site.devices.first().cloned().ok_or(AppError::NotFound)?,
        };
        let tz = site.timezone;
        let from = match query.from.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => local_input(text, tz)?,
            None => local_midnight(tz, local_date(tz, Utc::now())),
        };
        let to = match query.to.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => local_input(text, tz)?,
            None => from + TimeDelta::days(1),
        };
        if to <= from {
            return Err(AppError::BadRequest("the end must be after the start".into()));
        }
        Ok(Self {
            device,
            devices: site.devices,
            range: from..to,
            timezone: tz,
            gateway: site.gateway.id,
            site_name: site.gateway.site_name,
        })
    }

    fn query_string(&self) -> String {
        let local = |t: DateTime<Utc>| t.with_timezone(&self.timezone).format("%Y-%m-%dT%H:%M").to_string();
        serde_urlencoded::to_string([
            ("device", self.device.id.to_string()),
            ("from", local(self.range.start)),
            ("to", local(self.range.end)),
        ])
        .unwrap_or_default()
    }
}

struct Row {
    time: String,
    status: String,
    values: Vec<String>,
}

struct DeviceOption {
    id: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "readings.html")]
struct ReadingsPage {
    layout: Layout,
    id: String,
    site_name: String,
    timezone: String,
    devices: Vec<DeviceOption>,
    from: String,
    to: String,
    columns: Vec<String>,
    rows: Vec<Row>,
    next_href: String,
    first_href: String,
    csv_href: String,
    paged: bool,
}

/// `GET /sites/{id}/readings`.
pub async fn page(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(query): Query<ReadingsQuery>,
) -> Result<Html<String>, AppError> {
    let selection = Selection::resolve(&scope, &id, &query).await?;
    let start = match query.after.as_deref().filter(|s| !s.is_empty()) {
        Some(after) => {
            let after = DateTime::parse_from_rfc3339(after)
                .map_err(|_| AppError::BadRequest("`after` is an RFC 3339 timestamp".into()))?
                .with_timezone(&Utc);
            (after + TimeDelta::milliseconds(1)).max(selection.range.start)
        }
        None => selection.range.start,
    };
    let mut readings = scope
        .tenant
        .readings(&selection.gateway, &selection.device.id, start..selection.range.end, PAGE + 1)
        .await?;
    let more = readings.len() > PAGE;
    readings.truncate(PAGE);
    let metrics: Vec<Metric> =
        Metric::ALL.into_iter().filter(|m| readings.iter().any(|r| r.metrics.get(*m).is_some())).collect();
    let tz = selection.timezone;
    let rows = readings
        .iter()
        .map(|r| Row {
            time: r.ts.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
            status: r.status.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            values: metrics
                .iter()
                .map(|m| r.metrics.get(*m).map(|v| format::metric(*m, v)).unwrap_or_default())
                .collect(),
        })
        .collect();
    let base = format!("/sites/{}/readings", selection.gateway);
    let query_string = selection.query_string();
    let next_href = match (more, readings.last()) {
        (true, Some(last)) => format!(
            "{base}?{query_string}&{}",
            serde_urlencoded::to_string([("after", last.ts.to_rfc3339())]).unwrap_or_default()
        ),
        _ => String::new(),
    };
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string();
    render(&ReadingsPage {
        layout: Layout::new(&scope, &session, "fleet"),
        id: selection.gateway.to_string(),
        site_name: selection.site_name.clone(),
        timezone: tz.name().to_owned(),
        devices: selection
            .devices
            .iter()
            .map(|d| DeviceOption { id: d.id.to_string(), selected: d.id == selection.device.id })
            .collect(),
        from: local(selection.range.start),
        to: local(selection.range.end),
        columns: metrics.iter().map(|m| format::metric_label(*m).to_owned()).collect(),
        rows,
        next_href,
        first_href: format!("{base}?{query_string}"),
        csv_href: format!("{base}/csv?{query_string}"),
        paged: query.after.is_some(),
    })
}

/// `GET /sites/{id}/readings/csv`: every reading in the range, streamed in chunks.
pub async fn csv(
    scope: Scope,
    Path(id): Path<String>,
    Query(query): Query<ReadingsQuery>,
) -> Result<Response, AppError> {
    let selection = Selection::resolve(&scope, &id, &query).await?;
    let filename = format!(
        "{}-{}-{}.csv",
        selection.gateway,
        selection.device.id,
        selection.range.start.with_timezone(&selection.timezone).format("%Y%m%dT%H%M")
    );
    let chunks = CsvChunks {
        tenant: Arc::clone(&scope.tenant),
        gateway: selection.gateway.clone(),
        device: selection.device.id.clone(),
        next: Some(selection.range.start),
        end: selection.range.end,
        timezone: selection.timezone,
        header: true,
    };
    let body = stream::unfold(chunks, |mut chunks| async move {
        let chunk = chunks.next().await?;
        Some((chunk, chunks))
    });
    Ok(csv_response(Body::from_stream(body), &filename))
}

/// The state of a streamed CSV: where the next chunk starts.
struct CsvChunks {
    tenant: Arc<dyn TenantStore>,
    gateway: GatewayId,
    device: DeviceId,
    next: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
    timezone: Tz,
    header: bool,
}

impl CsvChunks {
    async fn next(&mut self) -> Option<Result<String, std::io::Error>> {
        let from = self.next?;
        let readings: Vec<Reading> =
            match self.tenant.readings(&self.gateway, &self.device, from..self.end, CSV_CHUNK).await {
                Ok(readings) => readings,
                Err(e) => {
                    self.next = None;
                    tracing::error!(error = %e, "CSV export stopped");
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            };
        self.next = match readings.last() {
            Some(last) if readings.len() == CSV_CHUNK => Some(last.ts + TimeDelta::milliseconds(1)),
            _ => None,
        };
        let mut text = if std::mem::take(&mut self.header) { readings_csv_header() } else { String::new() };
        readings_csv_rows(&readings, self.timezone, &mut text);
        Some(Ok(text))
    }
}
