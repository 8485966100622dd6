//! `heliograph monitor`: the alert monitor as a process of its own, for deployments that run the
//! roles apart. Any number may run: opening and clearing an alert are idempotent in the store,
//! so two monitors checking at once open each alert once and notify once.

use heliograph_shared::alerts::Monitor;
use tracing::info;

use crate::process::{RoleProcess, start_role};
use crate::settings::Settings;

/// `heliograph monitor`.
pub async fn monitor(settings: Settings) -> anyhow::Result<()> {
    let Some(RoleProcess { shutdown, ops, store }) = start_role(&settings, settings.ops.monitor).await?
    else {
        return Ok(());
    };
    info!(ops = ?ops.address, every_secs = settings.monitor.check_secs, "monitor running");
    Monitor::default().run(store, settings.monitor.interval(), shutdown).await;
    Ok(())
}
