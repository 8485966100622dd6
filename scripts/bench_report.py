#!/usr/bin/env python3
"""Turns the JSON results of scripts/bench.sh and criterion's estimates into BENCHMARKS.md."""

import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys

out = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
criterion = os.path.join(root, "target", "criterion")


def estimate(group, bench):
    """Median time per iteration in seconds, from criterion's estimates."""
    path = os.path.join(criterion, group, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


def throughput(group, bench):
    path = os.path.join(criterion, group, bench, "new", "benchmark.json")
    with open(path) as f:
        data = json.load(f)["throughput"]
    return data.get("Bytes") or data.get("Elements")


def run_number(path):
    """The run number at the end of a result file's name (`embedded_max_10.json` -> 10), else 0."""
    stem = os.path.splitext(os.path.basename(path))[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def runs(pattern):
    """The results of the files matching `pattern`, in run order."""
    paths = sorted(glob.glob(os.path.join(out, pattern)), key=lambda p: (run_number(p), p))
    return [json.load(open(p)) for p in paths]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


rows = []


def row(what, baseline, measured, target, met):
    rows.append(f"| {what} | {baseline} | {measured} | {target} | {'✅' if met else '❌'} |")


PARSE_DOCUMENTS = {
    "native_60": "native, 60 readings",
    "sunspec_60": "SunSpec, 60 records of one inverter model",
    "sunspec_models_60": "SunSpec, 60 records of common, inverter and MPPT models",
}
paired = {d["name"]: d for r in runs("parse_paired.json") for d in r["documents"]}
for name, label in PARSE_DOCUMENTS.items():
    group = f"parse_{name}"
    try:
        size = throughput(group, "baseline_quick_xml_events")
        base = size / estimate(group, "baseline_quick_xml_events") / 1e6
        ours = size / estimate(group, "heliograph") / 1e6
    except (OSError, KeyError):
        continue
    sequential = ours / base
    p = paired.get(name)
    if p is None:
        row(f"parse throughput, {label}", f"bare quick-xml event loop {base:.0f} MB/s",
            f"{ours:.0f} MB/s (**{sequential:.2f}×**, criterion)", "≥ 0.5× baseline", sequential >= 0.5)
        continue
    ratio = p["ratio_median"]
    row(f"parse throughput, {label}",
        f"bare quick-xml event loop {p['bytes'] / p['baseline_us']:.0f} MB/s",
        f"{p['bytes'] / p['heliograph_us']:.0f} MB/s (**{ratio:.3f}×**, median of {p['rounds']} paired rounds, "
        f"quartiles {p['ratio_q1']:.3f}-{p['ratio_q3']:.3f}); criterion, the two measured one after the other: "
        f"{ours:.0f} against {base:.0f} MB/s ({sequential:.2f}×)", "≥ 0.5× baseline", ratio >= 0.5)

embedded = runs("embedded_max_*.json")
if embedded:
    rps = median(r["readings_per_second"] for r in embedded)
    cpu = median(r.get("server_cpu_percent") for r in embedded)
    rss = max(r.get("server_peak_rss_mib") or 0 for r in embedded)
    row(f"end-to-end ingest, embedded, {embedded[0]['gateways']} gateways × {embedded[0]['batch']}-reading batches",
        "—", f"**{rps:,.0f} readings/s** acked (median of {len(embedded)}; server CPU {cpu:.0f}%, peak RSS {rss:.0f} MiB)",
        "≥ 150,000 readings/s", rps >= 150_000)

half = runs("embedded_half_*.json")
if half:
    p50 = median(h["ack_ms_p50"] for h in half)
    p99s = sorted(h["ack_ms_p99"] for h in half)
    p99 = median(p99s)
    rps = median(h["readings_per_second"] for h in half)
    row("ack latency at half the maximal load, embedded", "—",
        f"p50 {p50:.1f} ms, **p99 {p99:.1f} ms** (median of {len(half)}; runs {p99s[0]:.1f}-{p99s[-1]:.1f} ms), "
        f"max {max(h['ack_ms_max'] for h in half):.1f} ms at {rps:,.0f} readings/s", "p99 ≤ 20 ms", p99 <= 20)

idle = runs("idle.json")
if idle:
    i = idle[0]
    row("idle gateway connections", "—",
        f"{i['still_open']:,} held open; **{i['kib_per_connection']:.1f} KiB** of server RSS each",
        "10,000 open; ≤ 16 KiB each", i["still_open"] >= 10_000 and i["kib_per_connection"] <= 16)

grown = runs("embedded_grown_*.json")
prefill = runs("embedded_prefill.json")
if embedded and grown and prefill:
    # Run k on the empty store and run k on the grown one were made one after the other: their
    # ratio is the pair's, and the row's figure is the median pair (as for parsing's rounds).
    pairs = sorted(g["readings_per_second"] / e["readings_per_second"] for e, g in zip(embedded, grown))
    ratio = median(pairs)
    empty = median(r["readings_per_second"] for r in embedded)
    full = median(r["readings_per_second"] for r in grown)
    stored = prefill[0]["readings_written"]
    row(f"ingest as stored data grows, embedded",
        f"the same load on an empty store, alternating with it: {empty:,.0f} readings/s (median of {len(embedded)})",
        f"{full:,.0f} readings/s with {stored / 1e6:,.0f} million readings stored (**{ratio:.2f}×**, median of "
        f"{len(pairs)} pairs' ratios, pairs {pairs[0]:.2f}-{pairs[-1]:.2f}; medians' ratio {full / empty:.2f}×; "
        f"pre-filled at {prefill[0]['readings_per_second']:,.0f} readings/s)",
        "≥ 0.9× at 50 million readings", ratio >= 0.9 and stored >= 50_000_000)

ingest = runs("cassandra_ingest_*.json")
direct = runs("cassandra_direct_*.json")
if ingest and direct:
    through = median(r["readings_per_second"] for r in ingest)
    straight = median(r["readings_per_second"] for r in direct)
    ratio = through / straight
    size = ingest[0]["readings_acked"]
    row(f"end-to-end ingest, one Cassandra node, {ingest[0]['gateways']} gateways, "
        f"{size / 1e6:.2f} million readings a run",
        f"same rows straight through the scylla driver, prepared, same concurrency: {straight:,.0f} rows/s "
        f"(median of {len(direct)})",
        f"{through:,.0f} readings/s (**{ratio:.2f}×**, median of {len(ingest)})", "≥ 0.7× baseline", ratio >= 0.7)

drain = runs("cassandra_drain.json")
if drain:
    d = drain[0]
    ratio = d["drain_readings_per_second"] / d["live_readings_per_second"]
    row(f"spool drain after a {d['outage_seconds']:.0f} s Cassandra outage at half the measured rate",
        f"the live load during the drain: {d['live_readings_per_second']:,.0f} readings/s "
        f"(half of {d['measured_max_readings_per_second']:,.0f})",
        f"backlog {d['backlog_readings']:,} readings ({d['backlog_bytes'] / 2**20:,.0f} MiB spooled) stored in "
        f"**{d['drain_seconds']:.1f} s** once the node answered: {d['drain_readings_per_second']:,.0f} readings/s "
        f"(**{ratio:.2f}×** the live rate); live ack p99 {d['live_ack_ms_p99']:.1f} ms over "
        f"{d['live_seconds']:.0f} s, {d['live_refused']} refused",
        "drain ≥ 3× the live rate", ratio >= 3)

for backend in ("embedded", "cassandra"):
    group = f"report_pages_{backend}"
    try:
        year = estimate(group, "year") * 1e3
        week = estimate(group, "year_of_a_one_week_site") * 1e3
        pages = {name: estimate(group, name) * 1e3 for name in ("day", "month", "year_csv", "fleet")}
    except OSError:
        continue
    ratio = year / week
    slowest = max([year, *pages.values()])
    others = ", ".join(f"{name} {ms:.1f} ms" for name, ms in pages.items())
    row(f"report page, site year view, {backend}, a year of 1-minute data",
        f"the same page of a site with one week of data: {week:.1f} ms",
        f"**{year:.1f} ms** median (**{ratio:.2f}×**); other pages of that site: {others}",
        "≤ 2× the week figure and ≤ 50 ms", ratio <= 2 and slowest <= 50)

mailer = runs("mailer.json")
if mailer:
    m = mailer[0]
    row("mailer, monthly summaries computed, rendered and handed to aiosmtpd", "—",
        f"{m['sent']:,} sent ({m['received_by_smtp']:,} received) in **{m['seconds']:.1f} s** "
        f"({m['summaries_per_second']:.0f}/s)", "10,000 in ≤ 120 s",
        m["sent"] >= 10_000 and m["received_by_smtp"] >= 10_000 and m["seconds"] <= 120)

try:
    reports = estimate("reports", "hourly_rollups_day_of_minutes")
    rows.append(f"| report aggregation: a day of 1-minute readings into hourly rollups | — | {reports * 1e6:.0f} µs | — | |")
except OSError:
    pass

cpu_model = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        cpu_model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass
# The commit and start time the run recorded; the checkout and the clock for older result sets.
try:
    with open(os.path.join(out, "run.json")) as f:
        run = json.load(f)
    rev, measured_at = run["commit"], run["at"]
except (OSError, ValueError, KeyError):
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root).stdout.strip()
    measured_at = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
print(f"""# Benchmarks

The latest results of `scripts/bench.sh` (criterion for the hot paths, `heliograph load` over
real TCP connections for end-to-end figures). Every target is a ratio against a baseline measured
in the same run, or a figure with its baseline beside it; load figures are medians of several runs.
Server and load generator share the machine.

- Machine: {os.cpu_count()} cores ({cpu_model}), {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {platform.system()} {platform.release()}
- Commit: `{rev}`, {measured_at} UTC
- Command: `scripts/bench.sh`

| what | baseline (same run) | measured | target | met |
|---|---|---|---|---|""")
print("\n".join(rows))
notes = os.path.join(root, "scripts", "bench_notes.md")
if os.path.exists(notes):
    print()
    print(open(notes).read().rstrip())
