//! Parse throughput against its baseline in paired rounds: the bare quick-xml event loop and
//! Heliograph's parser take turns over the same document, a short batch each, and each round
//! gives one ratio of their times. Criterion (`benches/parse.rs`) measures the two one after
//! the other, seconds apart; on a shared machine the load can change in between, and the ratio
//! with it. Alternating every few milliseconds puts both sides of a ratio under the same load,
//! and the median of many rounds leaves out the rounds a burst of load landed in.
//!
//! Prints one JSON object (for `scripts/bench_report.py`) on stdout and a summary on stderr.
//! `HELIOGRAPH_PARSE_ROUNDS` (default 41) and `HELIOGRAPH_PARSE_BATCH_MS` (default 20, the
//! parser's side of a round) change the measurement.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use heliograph_ingest::protocol::bare_event_loop;

mod documents;

/// The measurement of one document.
struct Paired {
    name: &'static str,
    bytes: usize,
    /// Per round: (baseline, parser) seconds per document.
    rounds: Vec<(f64, f64)>,
}

/// What the rounds of one document come to.
struct Summary {
    /// Median seconds per document: the baseline's and the parser's.
    baseline: f64,
    parser: f64,
    /// The rounds' ratios (baseline time over parser time): median, quartiles, extremes.
    median: f64,
    q1: f64,
    q3: f64,
    min: f64,
    max: f64,
}

impl Paired {
    fn summary(&self) -> Summary {
        let ratios = sorted(self.rounds.iter().map(|&(baseline, parser)| baseline / parser).collect());
        Summary {
            baseline: median(&sorted(self.rounds.iter().map(|r| r.0).collect())),
            parser: median(&sorted(self.rounds.iter().map(|r| r.1).collect())),
            median: median(&ratios),
            q1: quantile(&ratios, 0.25),
            q3: quantile(&ratios, 0.75),
            min: ratios[0],
            max: ratios[ratios.len() - 1],
        }
    }

    /// The document's entry in the JSON that `scripts/bench_report.py` reads.
    fn json(&self, s: &Summary) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "bytes": self.bytes,
            "rounds": self.rounds.len(),
            "baseline_us": s.baseline * 1e6,
            "heliograph_us": s.parser * 1e6,
            "ratio_median": s.median,
            "ratio_q1": s.q1,
            "ratio_q3": s.q3,
            "ratio_min": s.min,
            "ratio_max": s.max,
        })
    }
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn median(sorted: &[f64]) -> f64 {
    quantile(sorted, 0.5)
}

/// The `q` quantile of sorted values, interpolating between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seconds per call of `f` over `iterations` calls.
fn time(iterations: u64, f: &dyn Fn() -> usize) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    start.elapsed().as_secs_f64() / iterations as f64
}

fn measure(name: &'static str, document: &str, rounds: u64, batch: Duration) -> Paired {
    let bytes = document.as_bytes();
    let baseline = || bare_event_loop(black_box(bytes));
    let parser = || usize::from(documents::parse(black_box(bytes)).is_ok());
    // Warm up both for a second, then size a batch so that the parser's side takes `batch`.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        time(10, &baseline);
        time(10, &parser);
    }
    let per_call = time(100, &parser);
    let iterations = ((batch.as_secs_f64() / per_call) as u64).max(1);
    let rounds = (0..rounds)
        .map(|round| {
            // Alternate which side goes first, so that neither always follows the other.
            if round % 2 == 0 {
                let b = time(iterations, &baseline);
                (b, time(iterations, &parser))
            } else {
                let p = time(iterations, &parser);
                (time(iterations, &baseline), p)
            }
        })
        .collect();
    Paired { name, bytes: bytes.len(), rounds }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument names the documents to measure.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rounds = env("HELIOGRAPH_PARSE_ROUNDS", 41).max(1);
    let batch = Duration::from_millis(env("HELIOGRAPH_PARSE_BATCH_MS", 20).max(1));
    let mut results = Vec::new();
    for (name, document) in documents::all() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        documents::check(name, &document);
        let paired = measure(name, &document, rounds, batch);
        let summary = paired.summary();
        eprintln!(
            "parse/{name}: {:.3}x of the bare loop (median of {} paired rounds; quartiles {:.3}-{:.3}, \
             range {:.3}-{:.3})",
            summary.median,
            paired.rounds.len(),
            summary.q1,
            summary.q3,
            summary.min,
            summary.max,
        );
        results.push(paired.json(&summary));
    }
    println!("{}", serde_json::json!({ "documents": results }));
}
