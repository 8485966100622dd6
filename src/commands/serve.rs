//! The long-running roles: `serve` (all in one), `ingest`, `web`. Each runs in the foreground,
//! logs to stdout, and stops cleanly on SIGTERM or SIGINT.

use std::sync::Arc;

use heliograph_ingest::IngestServer;
use heliograph_shared::alerts::Monitor;
use heliograph_web::WebServer;
use tracing::info;

use crate::cli::ServeArgs;
use crate::process::{RoleProcess, start_role};
use crate::settings::Settings;

/// `heliograph serve`: ingest, web and mailer in one process.
pub async fn serve(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let Some(RoleProcess { shutdown, ops, store }) = start_role(&settings, settings.ops.ingest).await? else {
        return Ok(());
    };
    let ingest = IngestServer::bind(settings.ingest.clone(), Arc::clone(&store)).await?;
    let mut web_settings = settings.web.clone();
    if args.demo {
        // The demo is opened over plain http://localhost, where Safari drops `Secure` cookies.
        web_settings.cookie_secure = false;
    }
    let web = with_unsubscribe_key(WebServer::bind(&web_settings, Arc::clone(&store)).await?, &settings);
    info!(
        backend = store.backend(),
        ingest = %ingest.local_addr()?,
        sunspec_http = ?ingest.http_addr(),
        web = %web.local_addr()?,
        ops = ?ops.address,
        "heliograph serving"
    );
    let demo = if args.demo {
        let target = loopback(ingest.local_addr()?);
        Some(tokio::spawn(heliograph_simulator::demo::run(
            Arc::clone(&store),
            target,
            heliograph_simulator::demo::HISTORY,
            shutdown.clone(),
        )))
    } else {
        None
    };
    let monitor = settings.monitor.enabled.then(|| {
        let (store, every, stop) = (Arc::clone(&store), settings.monitor.interval(), shutdown.clone());
        tokio::spawn(async move { Monitor::default().run(store, every, stop).await })
    });
    let mailer = if settings.mailer.enabled {
        let mailer = super::mail::build(&settings, Arc::clone(&store))?;
        let stop = shutdown.clone();
        Some(tokio::spawn(async move { mailer.run(stop).await }))
    } else {
        None
    };
    let (ingest_outcome, web_outcome) = tokio::join!(ingest.run(shutdown.clone()), web.run(shutdown.clone()));
    if let Some(mailer) = mailer {
        // The mailer stops at the same signal; a send under way finishes or is retried later.
        let _ = mailer.await;
    }
    if let Some(monitor) = monitor {
        // It stops at the same signal; a check under way finishes its provider or is cut off,
        // and the next process checks again (opening and clearing are idempotent).
        let _ = monitor.await;
    }
    if let Some(demo) = demo {
        demo.abort();
    }
    ingest_outcome?;
    web_outcome?;
    info!("stopped");
    Ok(())
}

/// `heliograph ingest`.
pub async fn ingest(settings: Settings) -> anyhow::Result<()> {
    let Some(RoleProcess { shutdown, ops, store }) = start_role(&settings, settings.ops.ingest).await? else {
        return Ok(());
    };
    let ingest = IngestServer::bind(settings.ingest.clone(), store).await?;
    info!(ingest = %ingest.local_addr()?, sunspec_http = ?ingest.http_addr(), ops = ?ops.address, "ingest serving");
    // Its last log line says what is left in the spool.
    ingest.run(shutdown).await?;
    Ok(())
}

/// `heliograph web`.
pub async fn web(settings: Settings) -> anyhow::Result<()> {
    let Some(RoleProcess { shutdown, ops, store }) = start_role(&settings, settings.ops.web).await? else {
        return Ok(());
    };
    let web = with_unsubscribe_key(WebServer::bind(&settings.web, store).await?, &settings);
    info!(web = %web.local_addr()?, ops = ?ops.address, "web serving");
    web.run(shutdown).await?;
    info!("stopped");
    Ok(())
}

/// Gives the panel the mailer's unsubscribe key, so that the links in customer emails work.
/// Without one (Cassandra and no `[mailer] unsubscribe_secret`) the links answer 404.
fn with_unsubscribe_key(web: WebServer, settings: &Settings) -> WebServer {
    match settings.mailer.unsubscribe_key(super::mail::data_dir(settings).as_deref()) {
        Ok(key) => web.with_unsubscribe_key(key),
        Err(e) => {
            tracing::warn!(error = %e, "unsubscribe links in emails will not work");
            web
        }
    }
}

/// A listener bound to 0.0.0.0 is reached on 127.0.0.1 from inside the process.
fn loopback(address: std::net::SocketAddr) -> std::net::SocketAddr {
    if address.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], address.port()))
    } else {
        address
    }
}
