//! Raw readings of one device over a time range: a paginated table, newest first (keyset
//! pagination by timestamp both ways, so page 500 costs what page 1 costs), and a streamed CSV
//! export, oldest first.

use std::ops::Range;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use futures::stream;
use heliograph_shared::reports::csv::{readings_csv_header, readings_csv_rows};
use heliograph_shared::reports::period::{local_date, local_midnight};
use heliograph_shared::store::TenantStore;
use heliograph_shared::{Device, DeviceId, GatewayId, Metric, Reading};
use serde::Deserialize;

use super::form::{self, FieldErrors};
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

/// Rows read per store request while looking back for the newest readings.
const BACK_CHUNK: usize = 5_000;
/// The first window looked back through for older readings; doubled while it finds none.
const BACK_WINDOW: TimeDelta = TimeDelta::hours(1);

/// `?device=…&from=…&to=…&before=…|after=…` (`from`/`to` local `YYYY-MM-DDTHH:MM`; `before`
/// and `after` RFC 3339: the page older than, or newer than, a reading).
#[derive(Debug, Default, Deserialize)]
pub struct ReadingsQuery {
    device: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

fn instant(text: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    text.filter(|s| !s.is_empty())
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| AppError::BadRequest(format!("`{name}` is an RFC 3339 timestamp")))
        })
        .transpose()
}

/// The newest `count` readings in `range`, newest first. The store reads oldest first, so this
/// looks back through windows that double while they are empty and shrink while one holds
/// more than a request returns.
async fn newest(
    tenant: &dyn TenantStore,
    gateway: &GatewayId,
    device: &DeviceId,
    range: Range<DateTime<Utc>>,
    count: usize,
) -> Result<Vec<Reading>, AppError> {
    let mut found: Vec<Reading> = Vec::new();
    let mut end = range.end;
    let mut window = BACK_WINDOW;
    while end > range.start && found.len() < count {
        let start = (end - window).max(range.start);
        let chunk = tenant.readings(gateway, device, start..end, BACK_CHUNK).await?;
        if chunk.len() == BACK_CHUNK && window > TimeDelta::seconds(1) {
            window = window / 4;
            continue;
        }
        window = if chunk.is_empty() { (window * 2).min(TimeDelta::days(31)) } else { BACK_WINDOW };
        // `found` is newest first.
        found.extend(chunk.into_iter().rev());
        end = start;
    }
    found.truncate(count);
    Ok(found)
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
    /// What is wrong with the typed range (the range is then today's, and nothing is shown).
    pub errors: FieldErrors,
    /// Said when the range was read differently from how it was typed.
    pub notice: String,
}

/// The longest range one request reads: every reading of it may be looked through (the newest
/// first), so the range is what bounds a request's work, not the page size.
const MAX_RANGE: TimeDelta = TimeDelta::days(366);

/// The years a typed time may fall in: readings older than 2000 are refused at ingest, and a
/// time far ahead only makes a request look through empty years.
fn plausible_year(year: i32) -> bool {
    (2000..=Utc::now().year() + 1).contains(&year)
}

/// A local `YYYY-MM-DDTHH:MM` in `tz`.
fn local_input(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "Write a time as 2026-06-01T14:00.".to_owned())?;
    if !plausible_year(naive.year()) {
        return Err("Pick a time between the year 2000 and next year.".to_owned());
    }
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "That local time does not exist (the clocks went forward then).".to_owned())
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
        let today = local_midnight(tz, local_date(tz, Utc::now()));
        let mut errors = FieldErrors::new();
        let from = match query.from.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => errors.take("from", local_input(text, tz)),
            None => Some(today),
        };
        let to = match query.to.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => errors.take("to", local_input(text, tz)),
            None => from.map(|from| from + TimeDelta::days(1)),
        };
        let mut notice = String::new();
        let range = match (from, to) {
            (Some(from), Some(to)) if to > from => from..to,
            // Typing the two ends the wrong way round is a slip, not a question: show the range.
            (Some(from), Some(to)) if to < from => {
                notice = "From was after To: showing the range between them.".into();
                to..from
            }
            (Some(_), Some(_)) => {
                errors.add("to", "To must be after From.");
                today..today + TimeDelta::days(1)
            }
            _ => today..today + TimeDelta::days(1),
        };
        let range = if range.end - range.start > MAX_RANGE {
            errors.add("to", "Show at most a year at a time: pick a To within a year of From.");
            today..today + TimeDelta::days(1)
        } else {
            range
        };
        Ok(Self {
            device,
            devices: site.devices,
            range,
            timezone: tz,
            gateway: site.gateway.id,
            site_name: site.gateway.site_name,
            errors,
            notice,
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
    /// Links to the older and newer pages, and to the latest; empty where there is none.
    older_href: String,
    newer_href: String,
    latest_href: String,
    csv_href: String,
    errors: FieldErrors,
    notice: String,
}

/// `GET /sites/{id}/readings`.
pub async fn page(
    session: Session,
    scope: Scope,
    Path(id): Path<String>,
    Query(query): Query<ReadingsQuery>,
) -> Result<Response, AppError> {
    let mut selection = Selection::resolve(&scope, &id, &query).await?;
    if !selection.errors.is_empty() {
        return form::invalid(&ReadingsPage {
            layout: Layout::new(&scope, &session, "fleet"),
            id: selection.gateway.to_string(),
            site_name: selection.site_name.clone(),
            timezone: selection.timezone.name().to_owned(),
            devices: selection
                .devices
                .iter()
                .map(|d| DeviceOption { id: d.id.to_string(), selected: d.id == selection.device.id })
                .collect(),
            from: query.from.unwrap_or_default(),
            to: query.to.unwrap_or_default(),
            columns: Vec::new(),
            rows: Vec::new(),
            older_href: String::new(),
            newer_href: String::new(),
            latest_href: String::new(),
            csv_href: String::new(),
            errors: std::mem::take(&mut selection.errors),
            notice: String::new(),
        });
    }
    let range = selection.range.clone();
    let (tenant, gateway, device) = (scope.tenant.as_ref(), &selection.gateway, &selection.device.id);
    let before = instant(query.before.as_deref(), "before")?;
    let after = instant(query.after.as_deref(), "after")?;
    // Newest first; `older` and `newer` say whether there is a page either side.
    let (readings, older, newer) = match (before, after) {
        (_, Some(after)) => {
            let from = (after + TimeDelta::milliseconds(1)).max(range.start);
            let mut page = tenant.readings(gateway, device, from..range.end, PAGE + 1).await?;
            let newer = page.len() > PAGE;
            page.truncate(PAGE);
            let older = match page.first() {
                Some(oldest) => {
                    !tenant.readings(gateway, device, range.start..oldest.ts, 1).await?.is_empty()
                }
                None => false,
            };
            page.reverse();
            (page, older, newer)
        }
        (before, None) => {
            let to = before.map_or(range.end, |b| b.min(range.end));
            let mut page = newest(tenant, gateway, device, range.start..to, PAGE + 1).await?;
            let older = page.len() > PAGE;
            page.truncate(PAGE);
            let newer = match (before, page.first()) {
                (Some(_), Some(newest)) => {
                    let from = newest.ts + TimeDelta::milliseconds(1);
                    !tenant.readings(gateway, device, from..range.end, 1).await?.is_empty()
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            (page, older, newer)
        }
    };
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
    let page_href = |key: &str, at: DateTime<Utc>| {
        format!(
            "{base}?{query_string}&{}",
            serde_urlencoded::to_string([(key, at.to_rfc3339())]).unwrap_or_default()
        )
    };
    let older_href = match readings.last() {
        Some(oldest) if older => page_href("before", oldest.ts),
        _ => String::new(),
    };
    let newer_href = match readings.first() {
        Some(newest) if newer => page_href("after", newest.ts),
        _ => String::new(),
    };
    let on_latest = before.is_none() && after.is_none();
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
        older_href,
        newer_href,
        latest_href: if on_latest { String::new() } else { format!("{base}?{query_string}") },
        csv_href: format!("{base}/csv?{query_string}"),
        errors: FieldErrors::new(),
        notice: selection.notice.clone(),
    })
    .map(IntoResponse::into_response)
}

/// `GET /sites/{id}/readings/csv`: every reading in the range, streamed in chunks.
pub async fn csv(
    scope: Scope,
    Path(id): Path<String>,
    Query(query): Query<ReadingsQuery>,
) -> Result<Response, AppError> {
    let selection = Selection::resolve(&scope, &id, &query).await?;
    if let Some(message) = ["from", "to"].into_iter().find_map(|field| selection.errors.get(field)) {
        return Err(AppError::BadRequest(message.to_owned()));
    }
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
