//! `heliograph load --direct-cassandra`: the baseline of the Cassandra ingest figure. The same
//! documents the TCP load sends are parsed up front (by the ingest server's own parser, so the
//! rows are exactly the ones ingest would store) and written straight through the driver, one
//! document at a time per gateway, as many gateways at once as the TCP load runs: the
//! concurrency the ingest server sees, without the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use heliograph_ingest::protocol::{Document, ParseContext, parse_document};
use heliograph_shared::store::StoreSettings;
use heliograph_shared::store::cassandra::DirectReadingWriter;
use heliograph_shared::{ProviderSlug, Reading, TimestampPolicy};

use super::{LoadArgs, Measured, documents};
use crate::provision::SimulatedGateway;

/// Deepest element nesting the parser accepts here (the load's documents nest three deep).
const MAX_DEPTH: usize = 16;

/// Writes every gateway's documents and measures it like a TCP load run.
pub(super) async fn run(
    store: &StoreSettings,
    provider: &ProviderSlug,
    args: &LoadArgs,
    gateways: &[SimulatedGateway],
) -> anyhow::Result<Measured> {
    let StoreSettings::Cassandra(cassandra) = store else {
        anyhow::bail!("--direct-cassandra needs a Cassandra store in the settings");
    };
    let writer = Arc::new(DirectReadingWriter::connect(cassandra, provider).await?);
    let mut work = Vec::with_capacity(gateways.len());
    for (index, gateway) in gateways.iter().enumerate() {
        work.push(parsed(args, index, gateway)?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for documents in work {
        let writer = Arc::clone(&writer);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(documents.len());
            let mut written = 0u64;
            for readings in documents {
                let sent = Instant::now();
                writer.write(&readings).await?;
                latencies.push(sent.elapsed());
                written += readings.len() as u64;
            }
            Ok::<_, anyhow::Error>((latencies, written))
        });
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut accepted = 0;
    while let Some(joined) = tasks.join_next().await {
        let (gateway_latencies, written) = joined.context("a direct writer panicked")??;
        latencies.extend(gateway_latencies);
        accepted += written;
    }
    Ok(Measured { latencies, accepted, refused: 0, elapsed: started.elapsed() })
}

/// One gateway's documents as the readings the ingest server would store.
fn parsed(args: &LoadArgs, index: usize, gateway: &SimulatedGateway) -> anyhow::Result<Vec<Vec<Reading>>> {
    let context = ParseContext {
        now: Utc::now(),
        timestamps: TimestampPolicy::default(),
        max_readings: args.batch.max(1),
        session_gateway: Some(gateway.id.clone()),
    };
    documents(args, index)
        .iter()
        .map(|text| match parse_document(text.as_bytes(), context.clone(), MAX_DEPTH).0 {
            Ok(Document::Readings(document)) if document.rejected.is_empty() => Ok(document.readings),
            Ok(_) => anyhow::bail!("a load document did not parse to readings only"),
            Err(e) => anyhow::bail!("a load document did not parse: {e}"),
        })
        .collect()
}
