//! `heliograph spool`: an ingest spool directory looked at, drained or requeued by hand, for
//! example the volume a scaled-down ingest replica left behind.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use heliograph_ingest::spool::{self, Spool};
use tokio_util::sync::CancellationToken;

use crate::cli::SpoolCommand;
use crate::process::{open_store, shutdown_on_signals};
use crate::settings::Settings;

/// Runs a `spool` subcommand.
pub async fn spool(settings: Settings, command: SpoolCommand) -> anyhow::Result<()> {
    let directory = |dir: Option<PathBuf>| {
        dir.or_else(|| settings.ingest.spool_dir.clone())
            .context("no spool directory: pass --dir or set [ingest] spool_dir")
    };
    match command {
        SpoolCommand::Status { dir } => {
            let spool = open(directory(dir)?, settings.ingest.spool_max_bytes).await?;
            let letters = match spool::read_dead_letters(&spool.dead_letters_path()) {
                Ok(letters) => letters.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e).context("cannot read the dead letters"),
            };
            println!(
                "{} records waiting for replay, {} bytes held, {letters} dead letters ({})",
                spool.pending_records(),
                spool.depth_bytes(),
                spool.dead_letters_path().display()
            );
        }
        SpoolCommand::Drain { dir } => {
            let spool = Arc::new(open(directory(dir)?, settings.ingest.spool_max_bytes).await?);
            let store = open_store(&settings).await?;
            let waiting = spool.pending_records();
            let interrupted = shutdown_on_signals();
            let stop = CancellationToken::new();
            let replay = tokio::spawn(Arc::clone(&spool).replay(store, stop.clone()));
            while !spool.is_empty() && !interrupted.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            stop.cancel();
            replay.await.context("the replay task failed")?;
            anyhow::ensure!(
                spool.is_empty(),
                "interrupted: {} records still wait in the spool",
                spool.pending_records()
            );
            println!("stored {waiting} spooled records; the spool is empty");
        }
        SpoolCommand::RequeueDeadLetters { dir } => {
            let dir = directory(dir)?;
            let (requeued, kept) = tokio::task::spawn_blocking(move || spool::requeue_dead_letters(&dir))
                .await
                .context("the requeue task failed")??;
            println!(
                "{requeued} records put back in the spool; {kept} damaged lines kept in dead-letters.kept.log"
            );
        }
    }
    Ok(())
}

async fn open(dir: PathBuf, max_bytes: u64) -> anyhow::Result<Spool> {
    tokio::task::spawn_blocking(move || Spool::open(&dir, max_bytes))
        .await
        .context("the spool task failed")?
        .context("cannot open the spool")
}
