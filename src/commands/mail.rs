//! `heliograph mailer`: the summary and alert scheduler, and one summary on demand.

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::Context as _;
use heliograph_mailer::summary::SummaryPeriod;
use heliograph_mailer::{Delivered, FileOutbox, Mailer, Outbox, SmtpOutbox, TransportKind};
use heliograph_shared::store::{Store, StoreSettings};
use heliograph_shared::{CustomerId, ProviderSlug};
use tracing::info;

use crate::cli::{MailerArgs, MailerCommand};
use crate::process::{RoleProcess, open_store, start_role};
use crate::settings::Settings;

/// The embedded store's data directory, where the outbox and the unsubscribe key live by default.
pub fn data_dir(settings: &Settings) -> Option<PathBuf> {
    match &settings.store {
        StoreSettings::Embedded { data_dir } => Some(data_dir.clone()),
        StoreSettings::Cassandra(_) => None,
    }
}

/// Builds the mailer the settings describe (call inside the runtime: the SMTP pool needs it).
pub fn build(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<Mailer> {
    let mailer = &settings.mailer;
    let outbox = match mailer.transport {
        TransportKind::Smtp => Outbox::Smtp(SmtpOutbox::new(&mailer.smtp)?),
        TransportKind::File => {
            let dir = mailer
                .outbox_dir
                .clone()
                .or_else(|| data_dir(settings).map(|d| d.join("outbox")))
                .unwrap_or_else(|| PathBuf::from("outbox"));
            info!(dir = %dir.display(), "mail goes to the file outbox");
            Outbox::File(FileOutbox::new(&dir)?)
        }
    };
    let key = mailer.unsubscribe_key(data_dir(settings).as_deref())?;
    Ok(Mailer::new(store, mailer.clone(), outbox, key))
}

/// `heliograph mailer [send-now|preview]`.
pub async fn mailer(settings: Settings, args: MailerArgs) -> anyhow::Result<()> {
    let Some(command) = args.command else {
        let Some(RoleProcess { shutdown, ops, store }) = start_role(&settings, settings.ops.mailer).await?
        else {
            return Ok(());
        };
        let mailer = build(&settings, store)?;
        info!(ops = ?ops.address, "mailer running");
        mailer.run(shutdown).await;
        return Ok(());
    };
    let store = open_store(&settings).await?;
    let mailer = build(&settings, Arc::clone(&store))?;
    match command {
        MailerCommand::SendNow { provider, customer, period } => {
            let (provider, customer, period) = parse(&provider, &customer, &period)?;
            match mailer.send_summary(&provider, customer, period, true).await? {
                Delivered::Sent => println!("sent the summary of {period} to customer {customer}"),
                Delivered::NothingToSend => {
                    println!("nothing sent: customer {customer} is inactive, has no address or unsubscribed")
                }
                Delivered::Skipped(claim) => println!("not sent now: {claim:?}"),
                Delivered::WillRetry(error) => {
                    anyhow::bail!("sending failed ({error}); the running mailer retries it with backoff")
                }
                Delivered::Rejected(error) => anyhow::bail!("the mail server refused the message: {error}"),
            }
        }
        MailerCommand::Preview { provider, customer, period, out } => {
            let (provider, customer, period) = parse(&provider, &customer, &period)?;
            let rendered = mailer.preview_summary(&provider, customer, period).await?;
            std::fs::write(&out, &rendered.html)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let text = out.with_extension("txt");
            std::fs::write(&text, &rendered.text)
                .with_context(|| format!("cannot write {}", text.display()))?;
            println!("{}\nwrote {} and {}", rendered.subject, out.display(), text.display());
        }
    }
    Ok(())
}

fn parse(
    provider: &str,
    customer: &str,
    period: &str,
) -> anyhow::Result<(ProviderSlug, CustomerId, SummaryPeriod)> {
    Ok((ProviderSlug::parse(provider)?, CustomerId::from_str(customer)?, SummaryPeriod::parse(period)?))
}
