//! Administration commands: providers, customers, gateways, users and operators, and a read-back
//! of readings.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use heliograph_shared::store::TenantStore;
use heliograph_shared::{
    Customer, CustomerId, DeviceId, EmailAddress, Gateway, GatewayId, GatewayToken, MIN_PASSWORD_CHARS,
    PasswordDigest, Provider, ProviderSlug, Replication, ReportSchedule, SiteLocation, User, Username,
};

use crate::cli::{
    CustomerCommand, GatewayCommand, OperatorCommand, ProviderCommand, ReadingsArgs, UserCommand,
};
use crate::process::open_store;
use crate::settings::Settings;

fn slug(value: &str) -> anyhow::Result<ProviderSlug> {
    Ok(ProviderSlug::parse(value)?)
}

fn timezone(value: &str) -> anyhow::Result<Tz> {
    value
        .parse::<Tz>()
        .map_err(|_| anyhow::anyhow!("unknown timezone {value:?}: use an IANA name such as Europe/Berlin"))
}

/// `heliograph provider …`.
pub async fn provider(settings: Settings, command: ProviderCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    match command {
        ProviderCommand::Add {
            slug: id,
            name,
            replication,
            ingest_port,
            timezone: tz,
            retention_days,
            summaries,
        } => {
            let mut provider = Provider::new(slug(&id)?, name);
            provider.preferences.report_schedule = ReportSchedule::from_word(&summaries)
                .with_context(|| format!("--summaries {summaries:?}: say daily, weekly, monthly or never"))?;
            provider.replication = Replication::parse(&replication)?;
            provider.ingest_port = ingest_port;
            provider.timezone = timezone(&tz)?;
            provider.retention_days = retention_days;
            store.create_provider(&provider).await?;
            println!("provider {} created ({} backend)", provider.slug, store.backend());
        }
        ProviderCommand::List => {
            for p in store.providers().await? {
                let port = p.ingest_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\tport={}\ttz={}\tretention={}d",
                    p.slug, p.display_name, port, p.timezone, p.retention_days
                );
            }
        }
    }
    Ok(())
}

/// `heliograph customer …`.
pub async fn customer(settings: Settings, command: CustomerCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    match command {
        CustomerCommand::Add { provider, name, emails, timezone: tz } => {
            let slug = slug(&provider)?;
            let record =
                store.provider(&slug).await?.with_context(|| format!("provider {slug} does not exist"))?;
            let emails = emails
                .iter()
                .map(|e| EmailAddress::parse(e).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let customer = Customer {
                id: CustomerId::new_random(),
                name,
                emails,
                timezone: match tz {
                    Some(tz) => timezone(&tz)?,
                    None => record.timezone,
                },
                active: true,
            };
            store.tenant(&slug).await?.upsert_customer(&customer).await?;
            println!("{}", customer.id);
        }
        CustomerCommand::List { provider } => {
            for c in store.tenant(&slug(&provider)?).await?.customers().await? {
                let emails: Vec<&str> = c.emails.iter().map(EmailAddress::as_str).collect();
                println!("{}\t{}\t{}\t{}", c.id, c.name, emails.join(","), c.timezone);
            }
        }
    }
    Ok(())
}

/// `heliograph gateway …`.
pub async fn gateway(settings: Settings, command: GatewayCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    match command {
        GatewayCommand::Add { provider, id, site, capacity_kwp, customer, location } => {
            anyhow::ensure!(
                capacity_kwp.is_finite() && capacity_kwp > 0.0,
                "capacity must be a positive number of kWp"
            );
            let tenant = store.tenant(&slug(&provider)?).await?;
            let token = GatewayToken::generate();
            let customer = customer.map(|c| c.parse::<CustomerId>()).transpose()?;
            let location = SiteLocation::parse(location.as_deref().unwrap_or_default())?;
            let mut gateway =
                Gateway::new(GatewayId::parse(&id)?, customer, site, capacity_kwp, token.hash());
            gateway.location = location;
            tenant.create_gateway(&gateway).await?;
            println!("gateway {} added; its token (shown once, store it in the gateway):", gateway.id);
            println!("{}", token.reveal());
        }
        GatewayCommand::RotateToken { provider, id, grace_hours, revoke_previous } => {
            let tenant = store.tenant(&slug(&provider)?).await?;
            let id = GatewayId::parse(&id)?;
            let mut gateway =
                tenant.gateway(&id).await?.with_context(|| format!("gateway {id} does not exist"))?;
            let token = GatewayToken::generate();
            let grace = (!revoke_previous).then(|| Duration::hours(grace_hours));
            gateway.rotate_token(&token, grace, Utc::now());
            tenant.update_gateway(&gateway).await?;
            if revoke_previous {
                println!(
                    "new token for {id} (the previous one is refused from now on, also on open connections):"
                );
            } else {
                println!("new token for {id} (the previous one stays valid for {grace_hours} h):");
            }
            println!("{}", token.reveal());
        }
        GatewayCommand::Locate { provider, id, location } => {
            let tenant = store.tenant(&slug(&provider)?).await?;
            let id = GatewayId::parse(&id)?;
            let location = SiteLocation::parse(&location)?;
            tenant.set_location(&id, location).await?;
            match location {
                Some(at) => {
                    println!("gateway {id} is at {at}: its daylight runs from sunrise to sunset there")
                }
                None => println!("gateway {id} has no location: its daylight is 06:00 to 20:00 local"),
            }
        }
        GatewayCommand::List { provider } => {
            for g in store.tenant(&slug(&provider)?).await?.gateways().await? {
                let seen = g.last_seen.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into());
                let at = g.location.map(|l| l.to_string()).unwrap_or_else(|| "no location".into());
                println!("{}\t{}\t{} kWp\t{at}\tlast seen {}", g.id, g.site_name, g.capacity_kwp, seen);
            }
        }
    }
    Ok(())
}

/// The new user's password: the first line of stdin, or HELIOGRAPH_PASSWORD.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        std::env::var("HELIOGRAPH_PASSWORD")
            .map_err(|_| anyhow::anyhow!("give --password-stdin, or set HELIOGRAPH_PASSWORD"))?
    };
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password must be at least {MIN_PASSWORD_CHARS} characters"
    );
    Ok(password)
}

/// `heliograph operator …`.
pub async fn operator(settings: Settings, command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Add { username, display_name, password_stdin } => {
            let username = Username::parse(&username).map_err(anyhow::Error::msg)?;
            let password = read_password(password_stdin)?;
            let store = open_store(&settings).await?;
            let digest = hash(password).await?;
            let replaced = store.operator(&username).await?.is_some();
            // A new account record either way: a fresh session generation ends the sessions
            // of the account it replaces.
            store.upsert_operator(&User::new(username.clone(), display_name, digest)).await?;
            let what = if replaced { "password reset for operator" } else { "operator added:" };
            println!("{what} {username}; log in at /operator/login");
        }
        OperatorCommand::Deactivate { username } => {
            let username = Username::parse(&username).map_err(anyhow::Error::msg)?;
            let store = open_store(&settings).await?;
            let mut operator =
                store.operator(&username).await?.with_context(|| format!("no operator {username}"))?;
            operator.deactivate();
            store.upsert_operator(&operator).await?;
            println!("operator {username} deactivated; its sessions have ended");
        }
    }
    Ok(())
}

/// Hashes a password off the runtime's threads.
async fn hash(password: String) -> anyhow::Result<PasswordDigest> {
    tokio::task::spawn_blocking(move || PasswordDigest::hash(&password)).await?.map_err(anyhow::Error::msg)
}

/// A provider's handle and one of its users, both of which must exist.
async fn existing_user(
    settings: &Settings,
    slug: &ProviderSlug,
    username: &Username,
) -> anyhow::Result<(Arc<dyn TenantStore>, User)> {
    let store = open_store(settings).await?;
    store.provider(slug).await?.with_context(|| format!("provider {slug} does not exist"))?;
    let tenant = store.tenant(slug).await?;
    let user = tenant.user(username).await?.with_context(|| format!("no user {username} at {slug}"))?;
    Ok((tenant, user))
}

/// `heliograph user …`.
pub async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { provider, username, display_name, password_stdin } => {
            let slug = slug(&provider)?;
            let username = Username::parse(&username).map_err(anyhow::Error::msg)?;
            let password = read_password(password_stdin)?;
            let store = open_store(&settings).await?;
            store.provider(&slug).await?.with_context(|| format!("provider {slug} does not exist"))?;
            let tenant = store.tenant(&slug).await?;
            anyhow::ensure!(
                tenant.user(&username).await?.is_none(),
                "user {username} already exists at {slug}"
            );
            let digest = hash(password).await?;
            tenant.upsert_user(&User::new(username.clone(), display_name, digest)).await?;
            println!("user {username} added to {slug}");
        }
        UserCommand::Password { provider, username, password_stdin } => {
            let slug = slug(&provider)?;
            let username = Username::parse(&username).map_err(anyhow::Error::msg)?;
            let password = read_password(password_stdin)?;
            let (tenant, mut user) = existing_user(&settings, &slug, &username).await?;
            user.set_password(hash(password).await?);
            tenant.upsert_user(&user).await?;
            println!("new password for {username} at {slug}; their sessions have ended");
        }
        UserCommand::Deactivate { provider, username } => {
            let slug = slug(&provider)?;
            let username = Username::parse(&username).map_err(anyhow::Error::msg)?;
            let (tenant, mut user) = existing_user(&settings, &slug, &username).await?;
            user.deactivate();
            tenant.upsert_user(&user).await?;
            println!("user {username} at {slug} deactivated; their sessions have ended");
        }
        UserCommand::List { provider } => {
            let store = open_store(&settings).await?;
            for u in store.tenant(&slug(&provider)?).await?.users().await? {
                let state = if u.active { "active" } else { "deactivated" };
                println!("{}\t{}\t{state}", u.username, u.display_name);
            }
        }
    }
    Ok(())
}

fn instant(value: Option<&str>, default: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    match value {
        Some(text) => Ok(DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("{text:?} is not an RFC 3339 timestamp"))?
            .with_timezone(&Utc)),
        None => Ok(default),
    }
}

/// `heliograph readings …`.
pub async fn readings(settings: Settings, args: ReadingsArgs) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let tenant = store.tenant(&slug(&args.provider)?).await?;
    let now = Utc::now();
    let from = instant(args.from.as_deref(), now - Duration::hours(24))?;
    let to = instant(args.to.as_deref(), now + Duration::minutes(1))?;
    let rows = tenant
        .readings(&GatewayId::parse(&args.gateway)?, &DeviceId::parse(&args.device)?, from..to, args.limit)
        .await?;
    if args.count {
        println!("{}", rows.len());
        return Ok(());
    }
    for reading in rows {
        let values: Vec<String> = reading.metrics.iter().map(|(m, v)| format!("{m}={v}")).collect();
        let status = reading.status.map(|s| s.to_string()).unwrap_or_default();
        println!("{}\t{}\t{}\t{}", reading.ts.to_rfc3339(), reading.device, status, values.join(" "));
    }
    Ok(())
}
