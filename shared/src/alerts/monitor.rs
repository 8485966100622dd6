//! Applies the alert rules to every active site of a provider: opens an alert when a condition
//! starts to hold and clears it when it passes. Opening is idempotent in the store (one open
//! alert per kind, site and device), so two monitors checking at once open it once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::observed;
use super::rules::{self, Daylight};
use crate::domain::{Alert, AlertBasis, AlertKind, DeviceId, Gateway, GatewayId};
use crate::reports::comparable;
use crate::reports::period::local_midnight;
use crate::roster::Roster;
use crate::store::{Store, StoreError};

/// How long after a local day ends its production is judged (late readings arrive).
const JUDGE_AFTER: TimeDelta = TimeDelta::hours(2);
/// Days of a site's own history its day is compared with.
const OWN_HISTORY_DAYS: u64 = 7;

/// The oldest local date the monitor's per-site memory keeps. Local dates run from a day before
/// UTC's to a day after it, and the monitor works on a site's today and yesterday, so nothing
/// older than two days before UTC's date is asked for again, in any time zone.
fn oldest_kept(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive().checked_sub_days(Days::new(2)).unwrap_or(NaiveDate::MIN)
}

/// What one check changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AlertReport {
    /// Alerts opened.
    pub opened: usize,
    /// Alerts cleared.
    pub cleared: usize,
}

/// Per-process memory of work that need not be repeated every check.
#[derive(Default)]
pub struct Monitor {
    daylight: Mutex<HashMap<(GatewayId, NaiveDate), Daylight>>,
    judged: Mutex<HashSet<(GatewayId, NaiveDate)>>,
}

type OpenKey = (AlertKind, GatewayId, Option<DeviceId>);

impl Monitor {
    /// Checks every active site of the roster's provider at `now`.
    pub async fn check(&self, roster: &Roster, now: DateTime<Utc>) -> Result<AlertReport, StoreError> {
        let tenant = roster.tenant.as_ref();
        let mut open: HashMap<OpenKey, Alert> = tenant
            .open_alerts()
            .await?
            .into_iter()
            .map(|a| ((a.kind, a.gateway.clone(), a.device.clone()), a))
            .collect();
        let mut report = AlertReport::default();
        let mut yields: HashMap<(GatewayId, NaiveDate), Option<f64>> = HashMap::new();
        let sites: Vec<&Gateway> = roster.gateways().iter().filter(|g| g.active).collect();
        for site in &sites {
            self.check_offline(roster, site, now, &mut open, &mut report).await?;
            self.check_faults(roster, site, now, &mut open, &mut report).await?;
            self.check_production(roster, site, &sites, now, &mut open, &mut yields, &mut report).await?;
        }
        Ok(report)
    }

    async fn apply(
        roster: &Roster,
        site: &Gateway,
        key: OpenKey,
        holds: Option<(String, Option<AlertBasis>)>,
        now: DateTime<Utc>,
        open: &mut HashMap<OpenKey, Alert>,
        report: &mut AlertReport,
    ) -> Result<(), StoreError> {
        match (open.get(&key), holds) {
            // In its maintenance window a site opens no alert (and so sends no notice); an offline
            // site or a fault that still holds when the window ends opens then (a day's
            // production is muted by the window's day instead: `check_production`). Clearing goes
            // on as usual.
            (None, Some(_)) if site.alerting.in_maintenance(now) => {}
            (None, Some((detail, basis))) => {
                let alert = Alert::open(key.0, key.1.clone(), key.2.clone(), site.customer, now, detail)
                    .with_basis(basis);
                if roster.tenant.open_alert(&alert).await? {
                    super::metrics::alert(roster.provider.slug.as_str(), key.0.as_str(), "opened");
                    info!(provider = %roster.provider.slug, site = %site.id, kind = key.0.as_str(), "alert opened");
                    report.opened += 1;
                }
                open.insert(key, alert);
            }
            (Some(alert), None) => {
                if roster.tenant.clear_alert(alert, now).await? {
                    super::metrics::alert(roster.provider.slug.as_str(), key.0.as_str(), "cleared");
                    info!(provider = %roster.provider.slug, site = %site.id, kind = key.0.as_str(), "alert cleared");
                    report.cleared += 1;
                }
                open.remove(&key);
            }
            _ => {}
        }
        Ok(())
    }

    async fn check_offline(
        &self,
        roster: &Roster,
        site: &Gateway,
        now: DateTime<Utc>,
        open: &mut HashMap<OpenKey, Alert>,
        report: &mut AlertReport,
    ) -> Result<(), StoreError> {
        let tz = roster.timezone_of(site);
        let threshold =
            TimeDelta::minutes(i64::from(roster.provider.preferences.offline_after_minutes_for(site).max(1)));
        let key = (AlertKind::SiteOffline, site.id.clone(), None);
        let holds = if open.contains_key(&key) {
            // Stays open until data comes back, whatever the hour.
            (!rules::back_online(site.last_seen, now, threshold)).then(String::new)
        } else {
            let today = now.with_timezone(&tz).date_naive();
            // The sun's hours cost no read and follow a location changed today; only the hours
            // learned from a site's own data are remembered for the day.
            let cached = if site.location.is_some() {
                None
            } else {
                self.daylight.lock().ok().and_then(|m| m.get(&(site.id.clone(), today)).copied())
            };
            let daylight = match cached {
                Some(d) => d,
                None => {
                    let d = observed::daylight(roster.tenant.as_ref(), site, tz, now).await?;
                    if site.location.is_none()
                        && let Ok(mut m) = self.daylight.lock()
                    {
                        // Pruned by UTC's date, not this site's: sites in other time zones
                        // keep their entries.
                        m.retain(|(_, date), _| *date >= oldest_kept(now));
                        m.insert((site.id.clone(), today), d);
                    }
                    d
                }
            };
            rules::offline(site.last_seen, now, threshold, daylight, tz).then(|| {
                let since = site
                    .last_seen
                    .map_or_else(String::new, |t| t.with_timezone(&tz).format("%-d %b %H:%M").to_string());
                format!("no data received since {since}")
            })
        };
        Self::apply(roster, site, key, holds.map(|d| (d, None)), now, open, report).await
    }

    async fn check_faults(
        &self,
        roster: &Roster,
        site: &Gateway,
        now: DateTime<Utc>,
        open: &mut HashMap<OpenKey, Alert>,
        report: &mut AlertReport,
    ) -> Result<(), StoreError> {
        let window =
            TimeDelta::minutes(i64::from(roster.provider.preferences.offline_after_minutes_for(site).max(1)));
        for device in roster.tenant.devices(&site.id).await? {
            let readings = roster
                .tenant
                .readings(&site.id, &device.id, now - window..now + TimeDelta::minutes(10), 10_000)
                .await?;
            let Some(status) = readings.iter().rev().find_map(|r| r.status.clone()) else { continue };
            let key = (AlertKind::DeviceFault, site.id.clone(), Some(device.id.clone()));
            let holds = status.is_fault().then(|| ("the device reports a fault".to_owned(), None));
            Self::apply(roster, site, key, holds, now, open, report).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // the shared per-check state is passed explicitly
    async fn check_production(
        &self,
        roster: &Roster,
        site: &Gateway,
        sites: &[&Gateway],
        now: DateTime<Utc>,
        open: &mut HashMap<OpenKey, Alert>,
        yields: &mut HashMap<(GatewayId, NaiveDate), Option<f64>>,
        report: &mut AlertReport,
    ) -> Result<(), StoreError> {
        let tz = roster.timezone_of(site);
        let Some(day) = now.with_timezone(&tz).date_naive().checked_sub_days(Days::new(1)) else {
            return Ok(());
        };
        if now < local_midnight(tz, day + Days::new(1)) + JUDGE_AFTER || site.capacity_kwp <= 0.0 {
            return Ok(());
        }
        // A day judged after the fact is muted when a maintenance window reached into it: the
        // work is what made it low. It is not marked judged, so nothing is remembered of it.
        if site.alerting.maintenance_until.is_some_and(|until| until > local_midnight(tz, day)) {
            return Ok(());
        }
        if self.judged.lock().is_ok_and(|j| j.contains(&(site.id.clone(), day))) {
            return Ok(());
        }
        let tenant = roster.tenant.as_ref();
        let mut yield_of = async |gateway: &Gateway, date: NaiveDate| -> Result<Option<f64>, StoreError> {
            if let Some(y) = yields.get(&(gateway.id.clone(), date)) {
                return Ok(*y);
            }
            let y = comparable::day_yield(tenant, gateway, date, roster.timezone_of(gateway), now).await?;
            yields.insert((gateway.id.clone(), date), y);
            Ok(y)
        };
        let Some(today) = yield_of(site, day).await? else {
            // No data that day: the offline alert speaks for it.
            return Ok(());
        };
        let mut own = Vec::new();
        for back in 1..=OWN_HISTORY_DAYS {
            if let Some(date) = day.checked_sub_days(Days::new(back))
                && let Some(y) = yield_of(site, date).await?
            {
                own.push(y);
            }
        }
        let mut peers = Vec::new();
        for peer in sites.iter().filter(|p| p.id != site.id && p.capacity_kwp > 0.0) {
            if let Some(y) = yield_of(peer, day).await? {
                peers.push(y);
            }
        }
        let irradiance = comparable::day_irradiance(tenant, site, day, tz).await?;
        let figures = rules::DayFigures {
            yield_today: today,
            irradiance,
            capacity_kwp: site.capacity_kwp,
            own_recent: &own,
            peers: &peers,
        };
        let preferences = &roster.provider.preferences;
        let holds = rules::underperforming(
            figures,
            preferences.reference_pr_percent,
            preferences.underperformance_percent_for(site),
        )
        .map(|u| (format!("{} {}", day.format("On %-d %b it"), u.detail), Some(u.basis)));
        let key = (AlertKind::Underperformance, site.id.clone(), None);
        Self::apply(roster, site, key, holds, now, open, report).await?;
        if let Ok(mut judged) = self.judged.lock() {
            judged.retain(|(_, date)| *date >= oldest_kept(now));
            judged.insert((site.id.clone(), day));
        }
        Ok(())
    }
}

/// How the monitor runs: `[monitor]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MonitorSettings {
    /// Whether this process checks for alerts (`serve` and the `monitor` role do by default).
    pub enabled: bool,
    /// Seconds between checks of every provider's sites.
    pub check_secs: u64,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self { enabled: true, check_secs: 300 }
    }
}

impl MonitorSettings {
    /// Time between checks.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.check_secs.max(1))
    }
}

impl Monitor {
    /// Checks every provider's sites at `now`. A provider whose check fails is logged and
    /// skipped, so that one provider's unreadable keyspace does not silence the others.
    pub async fn check_all(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<AlertReport, StoreError> {
        let mut total = AlertReport::default();
        for provider in store.providers().await? {
            let slug = provider.slug.clone();
            let checked = async {
                let roster = Roster::load(store, provider).await?;
                self.check(&roster, now).await
            };
            match checked.await {
                Ok(report) => {
                    total.opened += report.opened;
                    total.cleared += report.cleared;
                }
                Err(e) => warn!(provider = %slug, error = %e, "alert check failed for this provider"),
            }
        }
        Ok(total)
    }

    /// Checks every provider's sites each `interval` until `shutdown`; a failed check is logged
    /// and tried again at the next one (the store may be back by then).
    pub async fn run(
        &self,
        store: Arc<dyn Store>,
        interval: std::time::Duration,
        shutdown: CancellationToken,
    ) {
        let mut checks = tokio::time::interval(interval);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(every_secs = interval.as_secs(), "alert monitor running");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = checks.tick() => {
                    let checked = self.check_all(store.as_ref(), Utc::now()).await;
                    super::metrics::check(checked.is_ok());
                    if let Err(e) = checked {
                        warn!(error = %e, "alert check failed; trying again at the next one");
                    }
                }
            }
        }
        info!("alert monitor stopped");
    }
}
