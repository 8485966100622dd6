//! A site's report page (day, month or year view in the site's timezone, with previous and
//! next), its CSV export, and the device table with each device's latest values.

use askama::Template;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use heliograph_shared::reports::daylight::DaylightRule;
use heliograph_shared::reports::period::local_date;
use heliograph_shared::reports::{self, BucketReport, Coverage, Period, PeriodError, Resolution, SiteReport};
use heliograph_shared::{Customer, Device, DeviceKind, Gateway, Metric, Reading, SiteLocation};

use super::alerts::AlertView;
use super::fleet::{faulty_devices, offline_after, open_alerts, status_text};
use super::{Layout, find_gateway, gateway_customer, render};
use crate::auth::Scope;
use crate::auth::session::Session;
use crate::charts::{self, Bar, Series};
use crate::error::AppError;
use crate::format;

/// A site, resolved within the caller's provider, with what every report of it needs.
pub struct SiteContext {
    /// The gateway.
    pub gateway: Gateway,
    /// Its customer.
    pub customer: Option<Customer>,
    /// Its timezone.
    pub timezone: Tz,
    /// Its devices.
    pub devices: Vec<Device>,
}

impl SiteContext {
    /// Loads the caller's site `id` (not found for another provider's).
    pub async fn load(scope: &Scope, id: &str) -> Result<Self, AppError> {
        let gateway = find_gateway(scope, id).await?;
        let customer = gateway_customer(scope, &gateway).await?;
        let timezone = reports::site_timezone(customer.as_ref(), &scope.provider);
        let devices = scope.tenant.devices(&gateway.id).await?;
        Ok(Self { gateway, customer, timezone, devices })
    }

    /// Today in the site's timezone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        local_date(self.timezone, now)
    }

    /// The report of `period`.
    pub async fn report(
        &self,
        scope: &Scope,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<SiteReport, AppError> {
        Ok(reports::site_report(
            scope.tenant.as_ref(),
            &self.gateway,
            &self.devices,
            self.timezone,
            period,
            now,
        )
        .await?)
    }
}

/// Reads a report period from the URL: an unknown view is not found, a bad value is a bad request.
pub fn parse_period(view: &str, key: &str) -> Result<Period, AppError> {
    Period::parse(view, key).map_err(|e| match e {
        PeriodError::View(_) => AppError::NotFound,
        other => AppError::BadRequest(other.to_string()),
    })
}

/// `GET /sites/{id}`: today's day view.
pub async fn today(scope: Scope, Path(id): Path<String>) -> Result<Redirect, AppError> {
    let site = SiteContext::load(&scope, &id).await?;
    let date = site.today(Utc::now());
    Ok(Redirect::to(&format!("/sites/{}/day/{}", site.gateway.id, date.format("%Y-%m-%d"))))
}

struct Card {
    label: &'static str,
    value: String,
    note: String,
}

struct Tab {
    label: &'static str,
    href: String,
    active: bool,
}

struct TableRow {
    label: String,
    /// Where the row drills down to (a day of a month, a month of a year); empty for none.
    href: String,
    /// True when the figures were not measured (the cells say why).
    missing: bool,
    cells: Vec<String>,
}

struct DeviceRow {
    id: String,
    kind: &'static str,
    model: String,
    seen: String,
    status: String,
    values: Vec<String>,
    readings_href: String,
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    layout: Layout,
    id: String,
    site_name: String,
    customer: String,
    customer_id: String,
    capacity: String,
    timezone: String,
    status: &'static str,
    status_text: String,
    power_now: String,
    alerts: Vec<AlertView>,
    tabs: Vec<Tab>,
    view: &'static str,
    title: String,
    previous_href: String,
    /// Empty when the next period has not begun.
    next_href: String,
    /// Why the period has no figures to chart, when it has none.
    notice: String,
    /// False for a period to come or before commissioning: nothing to chart or tabulate.
    figures: bool,
    today_href: String,
    csv_href: String,
    cards: Vec<Card>,
    chart: String,
    columns: Vec<&'static str>,
    table: Vec<TableRow>,
    total: TableRow,
    devices: Vec<DeviceRow>,
    device_columns: Vec<&'static str>,
}

/// The metrics the device table shows, in order.
const DEVICE_METRICS: [Metric; 7] = [
    Metric::AcPower,
    Metric::Energy,
    Metric::AcVoltage,
    Metric::Frequency,
    Metric::Temperature,
    Metric::Irradiance,
    Metric::ImportEnergy,
];

/// `GET /sites/{id}/{view}/{period}`.
pub async fn report_page(
    session: Session,
    scope: Scope,
    Path((id, view, key)): Path<(String, String, String)>,
) -> Result<Html<String>, AppError> {
    let now = Utc::now();
    let site = SiteContext::load(&scope, &id).await?;
    let period = parse_period(&view, &key)?;
    let offline_after = offline_after(&scope, &site.gateway);
    let alerts: Vec<heliograph_shared::Alert> =
        open_alerts(&scope).await.into_iter().filter(|a| a.gateway == site.gateway.id).collect();
    let faulty = faulty_devices(&alerts, &site.gateway.id);
    let tenant = scope.tenant.as_ref();
    let (report, snapshot, curves, devices) = futures::try_join!(
        site.report(&scope, period, now),
        async {
            Ok(reports::site_snapshot(
                tenant,
                &site.gateway,
                &site.devices,
                site.timezone,
                &faulty,
                now,
                offline_after,
            )
            .await?)
        },
        async {
            match period {
                Period::Day { date } => {
                    Ok(reports::day_curves(tenant, &site.gateway.id, &site.devices, date, site.timezone)
                        .await?)
                }
                _ => Ok(Vec::new()),
            }
        },
        device_rows(&scope, &site, period, now),
    )?;

    let base = format!("/sites/{}", site.gateway.id);
    let href = |p: &Period| format!("{base}/{}/{}", p.view(), p.key());
    let today = site.today(now);
    let anchor =
        if period.first_day() <= today && today < period.end_day() { today } else { period.first_day() };
    let tabs = ["day", "month", "year"]
        .into_iter()
        .filter_map(|v| Period::containing(v, anchor).ok())
        .map(|p| Tab {
            label: match p.view() {
                "day" => "Day",
                "month" => "Month",
                _ => "Year",
            },
            href: href(&p),
            active: p.view() == period.view(),
        })
        .collect();
    let chart = match period {
        Period::Day { .. } => {
            let series: Vec<Series> = curves
                .iter()
                .map(|c| Series {
                    name: match c.kind {
                        DeviceKind::Meter => format!("{} (grid, + import)", c.device),
                        _ => c.device.to_string(),
                    },
                    points: c.points.iter().map(|p| (p.at, p.watts)).collect(),
                })
                .collect();
            charts::power_chart(&series, period.bounds(site.timezone), site.timezone)
        }
        _ => energy_bars(&report, &base),
    };
    let (columns, table, total) = table(&report, &base);
    let next = period.next();
    render(&SitePage {
        layout: Layout::new(&scope, &session, "fleet"),
        id: site.gateway.id.to_string(),
        site_name: site.gateway.site_name.clone(),
        customer: site.customer.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        customer_id: site.customer.as_ref().map(|c| c.id.to_string()).unwrap_or_default(),
        capacity: format::capacity(site.gateway.capacity_kwp),
        timezone: site.timezone.name().to_owned(),
        status: snapshot.status.word(),
        status_text: status_text(&snapshot.status, site.timezone, now),
        power_now: format::power_or_dash(snapshot.current_power),
        alerts: alerts.iter().map(|a| AlertView::of(a, site.timezone)).collect(),
        tabs,
        view: match period.view() {
            "day" => "Day",
            "month" => "Month",
            _ => "Year",
        },
        title: period.title(),
        previous_href: href(&period.previous()),
        next_href: if next.first_day() <= today { href(&next) } else { String::new() },
        notice: notice(&report),
        figures: matches!(report.coverage, Coverage::Data | Coverage::NoData),
        today_href: href(&Period::containing(period.view(), today).unwrap_or(period)),
        csv_href: format!("{}/csv", href(&period)),
        cards: cards(&report, &daylight_note(site.gateway.location, period, site.timezone)),
        chart,
        columns,
        table,
        total,
        devices,
        device_columns: DEVICE_METRICS.iter().map(|m| format::metric_label(*m)).collect(),
    })
}

/// `GET /sites/{id}/{view}/{period}/csv`.
pub async fn report_csv(
    scope: Scope,
    Path((id, view, key)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let site = SiteContext::load(&scope, &id).await?;
    let period = parse_period(&view, &key)?;
    let report = site.report(&scope, period, Utc::now()).await?;
    let filename = format!("{}-{}-{}.csv", site.gateway.id, period.view(), period.key());
    Ok(csv_response(reports::csv::report_csv(&report), &filename))
}

/// A CSV download.
pub fn csv_response(body: impl Into<axum::body::Body>, filename: &str) -> Response {
    let safe: String =
        filename.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe}\"")),
        ],
        body.into(),
    )
        .into_response()
}

/// Why a period has no measured figures; empty when it has some.
fn notice(report: &SiteReport) -> String {
    match report.coverage {
        Coverage::Data => String::new(),
        Coverage::Future => "This period is in the future: nothing has been measured yet.".into(),
        Coverage::BeforeCommissioning => match report.commissioned {
            Some(at) => format!(
                "Not yet commissioned: the site's first data arrived on {}.",
                format::local_datetime(at, report.timezone)
            ),
            None => "Not yet commissioned.".into(),
        },
        Coverage::NoData => "No data: the site reported nothing in this period.".into(),
    }
}

/// What the availability card counts as daylight: the sun's hours where the site's location is
/// known (with the day's sunrise and sunset on a day view), else the clock's, and how to change it.
fn daylight_note(location: Option<SiteLocation>, period: Period, tz: Tz) -> String {
    let Some(location) = location else {
        return "daylight taken as 06–20 h: set the site's location under Gateways for sunrise and sunset"
            .into();
    };
    match period {
        Period::Day { date } => match DaylightRule::Sun(location).span(date, tz) {
            Some(span) if span.end - span.start >= TimeDelta::hours(24) => {
                "daylight: the sun did not set".into()
            }
            Some(span) => format!(
                "daylight: sunrise {} to sunset {}",
                format::local_time(span.start, tz),
                format::local_time(span.end, tz)
            ),
            None => "daylight: the sun did not rise".into(),
        },
        _ => "daylight from sunrise to sunset at the site".into(),
    }
}

fn cards(report: &SiteReport, daylight: &str) -> Vec<Card> {
    if !report.coverage.measured() {
        // The notice under the cards says why; the cards only show that nothing was measured.
        let dash = |label| Card { label, value: "—".into(), note: String::new() };
        let mut cards = vec![
            dash("Production"),
            dash("Specific yield"),
            dash("Peak power"),
            Card {
                label: "Availability",
                value: report.availability.map_or_else(|| "—".into(), |a| format::percent(Some(a))),
                note: if report.availability.is_some() {
                    format!("of daylight minutes with data; {daylight}")
                } else {
                    String::new()
                },
            },
        ];
        if report.has_irradiance {
            cards.push(dash("Performance ratio"));
        }
        return cards;
    }
    let tz = report.timezone;
    let total = &report.total;
    let since_commissioning = report
        .commissioned
        .filter(|c| report.period.bounds(tz).contains(c))
        .map(|c| format!(", since commissioning on {}", format::local_datetime(c, tz)))
        .unwrap_or_default();
    let peak_when = |at: DateTime<Utc>| match report.period.resolution() {
        Resolution::Hour => format!("at {}", format::local_time(at, tz)),
        _ => format!("on {}", format::local_datetime(at, tz)),
    };
    let mut cards = vec![
        Card { label: "Production", value: format::energy(total.production_wh), note: String::new() },
        Card {
            label: "Specific yield",
            value: format::specific_yield(report.specific_yield),
            note: format!("on {}", format::capacity(report.capacity_kwp)),
        },
        Card {
            label: "Peak power",
            value: format::power_or_dash(report.peak.map(|p| p.watts)),
            note: report.peak.map(|p| peak_when(p.at)).unwrap_or_default(),
        },
        Card {
            label: "Availability",
            value: format::percent(report.availability),
            note: format!("of daylight minutes with data{since_commissioning}; {daylight}"),
        },
    ];
    if report.has_irradiance {
        cards.push(Card {
            label: "Performance ratio",
            value: format::performance_ratio(report.performance_ratio),
            note: if report.performance_ratio.is_some() {
                "final over reference yield, hours with production and irradiance data".into()
            } else {
                "too little measured sunlight for a ratio".into()
            },
        });
    }
    if let (Some(consumption), Some(import), Some(export), Some(own)) =
        (total.consumption_wh, total.grid_import_wh, total.grid_export_wh, total.self_consumption_wh)
    {
        let share = |part: f64, whole: f64| format::percent((whole > 0.0).then(|| part / whole));
        cards.push(Card { label: "Consumption", value: format::energy(consumption), note: String::new() });
        cards.push(Card {
            label: "Self-consumption",
            value: format::energy(own),
            note: format!("{} of production", share(own, total.production_wh)),
        });
        cards.push(Card { label: "Grid import", value: format::energy(import), note: String::new() });
        cards.push(Card { label: "Grid export", value: format::energy(export), note: String::new() });
    }
    cards
}

/// Where a month's day or a year's month drills down to; none for hours or a bucket to come.
fn drill_down(report: &SiteReport, bucket: &BucketReport, base: &str) -> Option<String> {
    let date = bucket.start.with_timezone(&report.timezone).date_naive();
    let view = match report.period.resolution() {
        Resolution::Hour => return None,
        Resolution::Day => "day",
        Resolution::Month => "month",
    };
    let target = Period::containing(view, date).ok()?;
    (bucket.coverage != Coverage::Future).then(|| format!("{base}/{}/{}", target.view(), target.key()))
}

fn energy_bars(report: &SiteReport, base: &str) -> String {
    let tz = report.timezone;
    let yearly = report.period.resolution() == Resolution::Month;
    let bars: Vec<Bar> = report
        .buckets
        .iter()
        .map(|b| {
            let when = b.start.with_timezone(&tz);
            let name =
                if yearly { when.format("%B %Y").to_string() } else { when.format("%a %-d %b").to_string() };
            let href = drill_down(report, b, base);
            if !b.coverage.measured() {
                let title = format!("{name}: {}", b.coverage.words());
                let gap = match b.coverage {
                    Coverage::Future => "future",
                    Coverage::BeforeCommissioning => "before-commissioning",
                    _ => "no-data",
                };
                return Bar { label: b.label.clone(), value: None, title, href, gap };
            }
            let mut title = format!("{name}: {}", format::energy(b.flows.production_wh));
            if let Some(peak) = b.peak {
                title.push_str(&format!(", peak {}", format::power(peak.watts)));
            }
            if let Some(consumption) = b.flows.consumption_wh {
                title.push_str(&format!(", consumption {}", format::energy(consumption)));
            }
            Bar { label: b.label.clone(), value: Some(b.flows.production_wh / 1000.0), title, href, gap: "" }
        })
        .collect();
    let label = if yearly { "Energy per month" } else { "Energy per day" };
    charts::bar_chart(&bars, "kWh", label)
}

fn table(report: &SiteReport, base: &str) -> (Vec<&'static str>, Vec<TableRow>, TableRow) {
    let mut columns = vec!["Production", "Peak"];
    if report.has_meter {
        columns.extend(["Consumption", "Self-consumption", "Import", "Export"]);
    }
    if report.has_irradiance {
        columns.push("PR");
    }
    let kwh = |wh: Option<f64>| wh.map(format::energy).unwrap_or_else(|| "–".into());
    let cells = |flows: &reports::EnergyFlows, peak: Option<reports::Peak>, pr: Option<f64>| {
        let mut cells =
            vec![format::energy(flows.production_wh), format::power_or_dash(peak.map(|p| p.watts))];
        if report.has_meter {
            cells.extend([
                kwh(flows.consumption_wh),
                kwh(flows.self_consumption_wh),
                kwh(flows.grid_import_wh),
                kwh(flows.grid_export_wh),
            ]);
        }
        if report.has_irradiance {
            cells.push(format::performance_ratio(pr));
        }
        cells
    };
    let missing = |coverage: Coverage| {
        let mut cells = vec![coverage.words().to_owned()];
        cells.resize(columns.len(), "—".into());
        cells
    };
    let tz = report.timezone;
    let rows = report
        .buckets
        .iter()
        .map(|b| TableRow {
            href: drill_down(report, b, base).unwrap_or_default(),
            missing: !b.coverage.measured(),
            label: match report.period.resolution() {
                Resolution::Hour => {
                    format!("{}–{}", format::local_time(b.start, tz), format::local_time(b.end, tz))
                }
                Resolution::Day => b.start.with_timezone(&tz).format("%a %-d %b").to_string(),
                Resolution::Month => b.start.with_timezone(&tz).format("%B").to_string(),
            },
            cells: if b.coverage.measured() {
                cells(&b.flows, b.peak, b.performance_ratio)
            } else {
                missing(b.coverage)
            },
        })
        .collect();
    let total = TableRow {
        label: "Total".into(),
        href: String::new(),
        missing: !report.coverage.measured(),
        cells: if report.coverage.measured() {
            cells(&report.total, report.peak, report.performance_ratio)
        } else {
            missing(report.coverage)
        },
    };
    (columns, rows, total)
}

/// Each device with its latest reading.
async fn device_rows(
    scope: &Scope,
    site: &SiteContext,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Vec<DeviceRow>, AppError> {
    // The readings link opens the period on view, not today.
    let bounds = period.bounds(site.timezone);
    let local = |t: DateTime<Utc>| t.with_timezone(&site.timezone).format("%Y-%m-%dT%H:%M").to_string();
    let (from, to) = (local(bounds.start), local(bounds.end));
    let mut rows = Vec::with_capacity(site.devices.len());
    for device in &site.devices {
        let latest = latest_reading(scope, device).await?;
        let values = DEVICE_METRICS
            .iter()
            .map(|metric| {
                let value = latest.as_ref().and_then(|r| r.metrics.get(*metric));
                value.map_or_else(|| format::MISSING.into(), |v| format::metric(*metric, v))
            })
            .collect();
        let model =
            [&device.manufacturer, &device.model].iter().filter_map(|s| s.as_deref()).collect::<Vec<_>>();
        rows.push(DeviceRow {
            id: device.id.to_string(),
            kind: format::device_kind(device.kind),
            model: model.join(" "),
            seen: device.last_seen.map(|t| format::ago(t, now)).unwrap_or_else(|| "never".into()),
            status: latest
                .as_ref()
                .and_then(|r| r.status.as_ref())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            values,
            readings_href: format!(
                "/sites/{}/readings?{}",
                site.gateway.id,
                serde_urlencoded::to_string([
                    ("device", device.id.as_str()),
                    ("from", from.as_str()),
                    ("to", to.as_str())
                ])
                .unwrap_or_default()
            ),
        });
    }
    Ok(rows)
}

/// A device's latest reading: the last one in the ten minutes before it was last seen.
async fn latest_reading(scope: &Scope, device: &Device) -> Result<Option<Reading>, AppError> {
    let Some(seen) = device.last_seen else { return Ok(None) };
    let window = seen - TimeDelta::minutes(10)..seen + TimeDelta::milliseconds(1);
    Ok(scope.tenant.readings(&device.gateway, &device.id, window, 2_000).await?.pop())
}
