//! The mailer service: rounds of due summaries, alert notices and retries, sent with bounded
//! concurrency through one transport; alert checks on their own interval; `send-now`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt as _;
use heliograph_shared::store::Store;
use heliograph_shared::{
    ClaimOwner, Customer, CustomerId, DeliveryKey, ProviderSlug, UnsubscribeKey, UnsubscribeScope,
};
use lettre::Message;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::MailerError;
use crate::alerts::email as alert_email;
use crate::delivery::{Delivered, Deliverer};
use crate::mime::{self, Addressing};
use crate::settings::MailerSettings;
use crate::summary::email as summary_email;
use crate::summary::{Cadence, SummaryPeriod};
use crate::templates::Rendered;
use crate::transport::Outbox;
use heliograph_shared::roster::Roster;

/// What every email needs besides its data: settings and the unsubscribe key.
pub struct MailContext {
    /// The settings.
    pub settings: Arc<MailerSettings>,
    /// Signs unsubscribe links.
    pub unsubscribe: UnsubscribeKey,
}

impl MailContext {
    /// The unsubscribe link of a customer.
    pub fn unsubscribe_url(&self, roster: &Roster, customer: CustomerId, scope: UnsubscribeScope) -> String {
        self.unsubscribe.url(&self.settings.public_url, &roster.provider.slug, customer, scope)
    }

    /// The message of delivery `key` to every address of `customer`, under the provider's brand,
    /// with the one-click unsubscribe headers of `scope` (the same link `rendered` shows).
    pub fn message(
        &self,
        roster: &Roster,
        customer: &Customer,
        key: &DeliveryKey,
        scope: UnsubscribeScope,
        rendered: &Rendered,
    ) -> Result<Message, MailerError> {
        let unsubscribe_url = self.unsubscribe_url(roster, customer.id, scope);
        let addressing = Addressing {
            from_address: &self.settings.from_address,
            brand: roster.provider.brand(),
            to: &customer.emails,
            key,
            unsubscribe_url: &unsubscribe_url,
        };
        Ok(mime::message(rendered, &addressing)?)
    }
}

/// One email to consider in a round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Job {
    Summary(CustomerId, SummaryPeriod),
    Notice(DeliveryKey),
}

impl Job {
    fn key(&self) -> Result<DeliveryKey, MailerError> {
        match self {
            Self::Summary(customer, period) => summary_email::key(*customer, *period),
            Self::Notice(key) => Ok(key.clone()),
        }
    }

    /// The job a stored delivery stands for, if its topic is one this mailer writes.
    fn from_key(key: &DeliveryKey) -> Option<Self> {
        if let Some(period) = key.topic().strip_prefix(summary_email::TOPIC_PREFIX) {
            return SummaryPeriod::parse(period).ok().map(|p| Self::Summary(key.customer, p));
        }
        key.topic().starts_with(alert_email::TOPIC_PREFIX).then(|| Self::Notice(key.clone()))
    }
}

/// Counts of one round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// Messages handed to the transport.
    pub sent: usize,
    /// Failed attempts, to be retried.
    pub failed: usize,
    /// Refused for good.
    pub rejected: usize,
    /// Skipped: sent already, held elsewhere, not due, or nothing to send.
    pub skipped: usize,
}

impl RoundReport {
    fn add(&mut self, outcome: &Delivered) {
        match outcome {
            Delivered::Sent => self.sent += 1,
            Delivered::WillRetry(_) => self.failed += 1,
            Delivered::Rejected(_) => self.rejected += 1,
            Delivered::Skipped(_) | Delivered::NothingToSend => self.skipped += 1,
        }
    }
}

/// Keys known to be finished, so rounds do not claim them again; bounded.
const DONE_CACHE_LIMIT: usize = 200_000;

/// The mailer.
pub struct Mailer {
    store: Arc<dyn Store>,
    context: MailContext,
    deliverer: Deliverer,
    done: Mutex<HashSet<DeliveryKey>>,
}

impl Mailer {
    /// A mailer over `store`, sending through `outbox`, signing links with `unsubscribe`.
    pub fn new(
        store: Arc<dyn Store>,
        settings: MailerSettings,
        outbox: Outbox,
        unsubscribe: UnsubscribeKey,
    ) -> Self {
        let settings = Arc::new(settings);
        let owner = ClaimOwner::unique("mailer");
        Self {
            store,
            deliverer: Deliverer::new(owner, Arc::new(outbox), Arc::clone(&settings)),
            context: MailContext { settings, unsubscribe },
            done: Mutex::new(HashSet::new()),
        }
    }

    /// This process's claim owner id.
    pub fn owner(&self) -> &ClaimOwner {
        self.deliverer.owner()
    }

    /// Runs rounds until `shutdown`; a failed round is logged and retried at the next tick (the
    /// store or mail server may be back by then).
    pub async fn run(&self, shutdown: CancellationToken) {
        let settings = Arc::clone(&self.context.settings);
        let mut rounds = tokio::time::interval(settings.tick());
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(owner = %self.owner(), "mailer running");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = rounds.tick() => {
                    let outcome = self.round(Utc::now()).await;
                    crate::metrics::round(outcome.is_ok());
                    match outcome {
                        Ok(report) if report.sent + report.failed + report.rejected > 0 => {
                            info!(sent = report.sent, failed = report.failed, rejected = report.rejected, "mail round");
                        }
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "mail round failed; trying again at the next tick"),
                    }
                }
            }
        }
        info!("mailer stopped");
    }

    /// One round at `now` over every provider: retries that are due, summaries of periods that
    /// closed, alert notices pending. Each delivery is attempted at `now` plus the time the round
    /// has taken so far: a claim's lease runs from when it is made, not from the round's start,
    /// or a long round would hold claims that had already run out and another mailer would send
    /// the same message while this one does.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<RoundReport, MailerError> {
        let started = std::time::Instant::now();
        let clock = || now + TimeDelta::from_std(started.elapsed()).unwrap_or_default();
        let mut report = RoundReport::default();
        for provider in self.store.providers().await? {
            let slug = provider.slug.clone();
            // One provider's trouble (its keyspace unreachable) does not hold up the others.
            let prepared = async {
                let roster = Roster::load(self.store.as_ref(), provider).await?;
                let jobs = self.jobs(&roster, now).await?;
                Ok::<_, MailerError>((roster, jobs))
            };
            let (roster, jobs) = match prepared.await {
                Ok(prepared) => prepared,
                Err(e) => {
                    warn!(provider = %slug, error = %e, "cannot plan this provider's mail; trying again next round");
                    report.failed += 1;
                    continue;
                }
            };
            let concurrency = self.context.settings.concurrency.max(1);
            let outcomes: Vec<Result<(DeliveryKey, Delivered), MailerError>> = futures::stream::iter(jobs)
                .map(|job| self.run_job(&roster, job, false, clock()))
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome {
                    Ok((key, delivered)) => {
                        report.add(&delivered);
                        self.remember(key, &delivered);
                    }
                    Err(e) => {
                        report.failed += 1;
                        warn!(provider = %roster.provider.slug, error = %e, "a delivery could not be attempted");
                    }
                }
            }
        }
        Ok(report)
    }

    fn remember(&self, key: DeliveryKey, delivered: &Delivered) {
        use heliograph_shared::Claim;
        let finished = matches!(
            delivered,
            Delivered::Sent
                | Delivered::NothingToSend
                | Delivered::Rejected(_)
                | Delivered::Skipped(Claim::AlreadySent | Claim::Rejected)
        );
        if finished && let Ok(mut done) = self.done.lock() {
            if done.len() >= DONE_CACHE_LIMIT {
                done.clear();
            }
            done.insert(key);
        }
    }

    fn is_done(&self, key: &DeliveryKey) -> bool {
        self.done.lock().is_ok_and(|d| d.contains(key))
    }

    async fn jobs(&self, roster: &Roster, now: DateTime<Utc>) -> Result<Vec<Job>, MailerError> {
        let settings = &self.context.settings;
        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        let mut push = |job: Job| -> Result<(), MailerError> {
            let key = job.key()?;
            if !self.is_done(&key) && seen.insert(key) {
                jobs.push(job);
            }
            Ok(())
        };
        for delivery in roster.tenant.deliveries_due(now, settings.retry_batch).await? {
            if let Some(job) = Job::from_key(&delivery.key) {
                push(job)?;
            }
        }
        let delay = TimeDelta::minutes(settings.summary_delay_minutes.max(0));
        let window = TimeDelta::days(settings.catch_up_days.max(1));
        for customer in roster.customers() {
            if !customer.active || customer.emails.is_empty() {
                continue;
            }
            let preferences = roster.tenant.mail_preferences(customer.id).await?;
            if preferences.unsubscribed_summaries {
                continue;
            }
            let schedule = preferences.schedule.unwrap_or(roster.provider.preferences.report_schedule);
            let Some(kind) = Cadence::for_schedule(schedule) else { continue };
            for period in SummaryPeriod::closed_within(kind, customer.timezone, now, delay, window) {
                push(Job::Summary(customer.id, period))?;
            }
        }
        if settings.alerts {
            let interval = TimeDelta::minutes(settings.alert_min_interval_minutes.max(1));
            let topic = alert_email::topic(now, interval);
            for customer in roster.tenant.customers_with_pending_notices().await? {
                push(Job::Notice(DeliveryKey::new(customer, &topic)?))?;
            }
        }
        Ok(jobs)
    }

    async fn run_job(
        &self,
        roster: &Roster,
        job: Job,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(DeliveryKey, Delivered), MailerError> {
        let key = job.key()?;
        let tenant = &roster.tenant;
        let customer: Option<&Customer> = roster.customer(key.customer);
        let context = &self.context;
        let delivered = match (&job, customer) {
            (Job::Summary(_, period), Some(customer)) => {
                self.deliverer
                    .deliver(tenant.provider(), tenant.as_ref(), &key, force, now, || {
                        summary_email::message(context, roster, customer, *period, &key, now)
                    })
                    .await?
            }
            (Job::Notice(_), Some(customer)) => {
                self.deliverer
                    .deliver(tenant.provider(), tenant.as_ref(), &key, force, now, || {
                        alert_email::message(context, roster, customer, &key)
                    })
                    .await?
            }
            // The customer was deleted: nothing to send, and the delivery is closed.
            (_, None) => {
                self.deliverer
                    .deliver(tenant.provider(), tenant.as_ref(), &key, force, now, || async { Ok(None) })
                    .await?
            }
        };
        Ok((key, delivered))
    }

    /// Sends (or with `force`, resends) one customer's summary of `period` now.
    pub async fn send_summary(
        &self,
        provider: &ProviderSlug,
        customer: CustomerId,
        period: SummaryPeriod,
        force: bool,
    ) -> Result<Delivered, MailerError> {
        let provider = self
            .store
            .provider(provider)
            .await?
            .ok_or_else(|| MailerError::UnknownProvider(provider.clone()))?;
        let slug = provider.slug.clone();
        let roster = Roster::load(self.store.as_ref(), provider).await?;
        if roster.customer(customer).is_none() {
            return Err(MailerError::UnknownCustomer { provider: slug, customer });
        }
        let (key, delivered) =
            self.run_job(&roster, Job::Summary(customer, period), force, Utc::now()).await?;
        self.remember(key, &delivered);
        Ok(delivered)
    }

    /// Renders one customer's summary of `period` without sending it (previews, screenshots).
    pub async fn preview_summary(
        &self,
        provider: &ProviderSlug,
        customer: CustomerId,
        period: SummaryPeriod,
    ) -> Result<crate::templates::Rendered, MailerError> {
        let provider = self
            .store
            .provider(provider)
            .await?
            .ok_or_else(|| MailerError::UnknownProvider(provider.clone()))?;
        let slug = provider.slug.clone();
        let roster = Roster::load(self.store.as_ref(), provider).await?;
        let customer = roster
            .customer(customer)
            .ok_or(MailerError::UnknownCustomer { provider: slug, customer })?
            .clone();
        summary_email::render(&self.context, &roster, &customer, period, Utc::now()).await
    }
}
