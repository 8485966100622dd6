"""A nemesis run: the whole system on a three-node Cassandra cluster, honest gateways keeping a
ledger, faults from a seeded schedule, attacks in bursts, then every fault healed and the verdict.
Run it through scripts/nemesis.sh, which sets up the Python environment and the cluster."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import report
import schedule
import verdict
from attacks import Attacks
from cluster import Cluster
from deployment import Deployment, spool_bytes
from diskfull import DiskFull
from faults import Nemesis
from gateways import Ledger, Load, NativeGateway, SunSpecGateway

REPO = Path(__file__).resolve().parents[2]

# Gateway ids are fixed (each run has a registry of its own): the schedule names them.
SHARED = [f"NM-S{i:02d}" for i in range(1, 7)]
SUNSPEC = [f"NM-H{i:02d}" for i in range(1, 4)]
DEDICATED = [f"NM-D{i:02d}" for i in range(1, 5)]
EVIL = "NM-EVIL"

BOUNDS_MIB = {"ingest": 192, "web": 160, "mailer": 160}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=2.0, help="length of the chaos (the short run: 2)")
    p.add_argument("--seed", type=int, help="the schedule's seed (default: 36 for runs up to 5 minutes, else fresh)")
    p.add_argument("--binary", type=Path, default=REPO / "target/release/heliograph")
    p.add_argument("--cassandra-run-dir", type=Path, required=True)
    p.add_argument("--cassandra-port", type=int, required=True)
    p.add_argument("--storage-port", type=int, required=True)
    p.add_argument("--jmx-port", type=int, required=True)
    p.add_argument("--cassandra-heap", default="512m")
    p.add_argument("--work", type=Path, help="where logs, configs and spools go (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and the keyspaces")
    p.add_argument("--report", type=Path, help="write RELIABILITY.md here")
    p.add_argument("--plan-only", action="store_true", help="print the schedule of the seed and stop")
    p.add_argument("--disk-full", action="store_true",
                   help="include commit-log-disk-full faults (a loop-mounted file system; needs root)")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = 36 if args.minutes <= 5 else int.from_bytes(os.urandom(4), "big")
    return args


class Log:
    def __init__(self):
        self.started = time.monotonic()
        self.lines = []

    def __call__(self, text: str) -> None:
        line = f"[{time.monotonic() - self.started:7.1f}s] {text}"
        self.lines.append(line)
        print(line, flush=True)


def make_plan(args):
    return schedule.plan(args.seed, args.minutes * 60, disk_full=args.disk_full, gateways=tuple(SHARED))


def build_load(d: Deployment, seed: int) -> Load:
    load = Load(ledger=Ledger())
    now = int(time.time())
    p = d.ports
    shared_endpoints = [("127.0.0.1", p.ingest_a), ("127.0.0.1", p.ingest_b)]
    dedicated_endpoints = [("127.0.0.1", p.dedicated), ("127.0.0.2", p.dedicated)]
    http_endpoints = [("127.0.0.1", p.http_a), ("127.0.0.1", p.http_b)]

    def timeline(i):
        # Half the gateways live (two hours behind, catching up to the present), half uploading
        # a backlog from a day and a half ago (the late-data path of the reports).
        return (now - 2 * 3600 - i * 7, 1) if i % 2 == 0 else (now - 40 * 3600 - i * 11, 2)

    for i, gateway in enumerate(SHARED):
        start, step = timeline(i)
        load.gateways.append(NativeGateway(d.shared, gateway, d.token(gateway), load.ledger, random.Random(seed * 1000 + i),
                                           start, step, shared_endpoints, load, channel="shared"))
    for i, gateway in enumerate(DEDICATED):
        start, step = timeline(i)
        load.gateways.append(NativeGateway(d.dedicated, gateway, d.token(gateway), load.ledger,
                                           random.Random(seed * 1000 + 100 + i), start, step, dedicated_endpoints, load,
                                           channel="dedicated"))
    for i, gateway in enumerate(SUNSPEC):
        start, step = timeline(i)
        load.gateways.append(SunSpecGateway(d.shared, gateway, d.token(gateway), load.ledger,
                                            random.Random(seed * 1000 + 200 + i), start, step * 5, http_endpoints, load))
    return load


async def wait_for(predicate, timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


async def run(args, log: Log) -> int:
    plan = make_plan(args)
    started_at = report.commit(REPO)
    print(plan.describe(), flush=True)
    if args.plan_only:
        return 0
    cluster = Cluster(REPO / "scripts/cassandra.sh", args.cassandra_run_dir, args.cassandra_port, args.storage_port,
                      args.jmx_port, args.cassandra_heap)
    for node in range(1, cluster.nodes + 1):
        if not cluster.running(node):
            raise SystemExit(f"node {node} of the cluster in {args.cassandra_run_dir} is not running")
    work = args.work or Path(tempfile.mkdtemp(prefix="heliograph-nemesis-"))
    work.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(3)
    d = Deployment(args.binary.resolve(), cluster, work, REPO, sys.executable, run_id)
    d.evil = EVIL
    d.write_configs(spool_b_max=256 * 1024)
    log(f"work directory {work}; registry {d.registry}; providers {d.shared} (shared port, SunSpec HTTP), "
        f"{d.dedicated} (dedicated port {d.ports.dedicated})")
    figures = verdict.Figures()
    wall = time.monotonic()
    finished = False
    session_cluster = session = None
    stop_watch = asyncio.Event()
    disk = None
    try:
        if not await cluster.agree(log):
            raise RuntimeError("the cluster's nodes do not agree on the schema")
        if args.disk_full:
            disk = DiskFull(cluster, cluster.nodes, work, log)
            await disk.setup()
            if not disk.ready:
                log(f"no disk-full faults in this run: {disk.reason}")
        await d.provision(SHARED + SUNSPEC + [EVIL], DEDICATED, log)
        # The new keyspaces' schema on disk on every node before any is killed: a node SIGKILLed
        # soon after a schema change has come back without it and refused the schema for good.
        for node in range(1, cluster.nodes + 1):
            await cluster.control("nodetool", str(node), "flush", "system_schema")
        d.make_processes()
        await d.start("smtp", "ingest-a", "ingest-b", "web")
        panels = {slug: verdict.Panel(d.ports.web, slug) for slug in (d.shared, d.dedicated)}
        for panel in panels.values():
            await asyncio.to_thread(panel.login)
        log("ingest A and B, web and the SMTP sink running; API tokens issued")
        watcher = asyncio.create_task(d.watch(stop_watch, log))
        load = build_load(d, args.seed)
        load.start()
        await d.start("mailer-1", "mailer-2")
        log(f"{len(load.gateways)} honest gateways sending; two mailers running; the chaos starts")
        attacks = Attacks(d, load, log)
        nemesis = Nemesis(plan, cluster, d, load, attacks, log, disk)
        await nemesis.run(args.minutes * 60)
        log("the chaos is over; healing every fault")
        await nemesis.heal()
        await attacks.finish()
        left = await load.finish(timeout=240)
        log(f"gateways done: {left} documents still unacknowledged")
        backlog, drain_started = spool_bytes(d.spool_a) + spool_bytes(d.spool_b), time.monotonic()
        drained = await wait_for(lambda: spool_bytes(d.spool_a) + spool_bytes(d.spool_b) == 0, 240)
        figures.spool = (f"{backlog / 1024:.0f} KiB in the spools when the last document was acknowledged, "
                         f"replayed in {time.monotonic() - drain_started:.0f} s")
        figures.check("spools drained after the faults healed", drained,
                      f"ingest A {spool_bytes(d.spool_a)} bytes, ingest B {spool_bytes(d.spool_b)} bytes left")
        dead_letters = spool_bytes(d.spool_a, segments=False) + spool_bytes(d.spool_b, segments=False)
        log(f"spools {'drained' if drained else 'NOT drained'}; {dead_letters} bytes in other spool files")
        mail_count = lambda: len(list(d.smtp_dir.glob("*.eml")))  # noqa: E731
        settled = {"count": -1, "since": time.monotonic()}

        def mail_settled():
            count = mail_count()
            if count != settled["count"]:
                settled.update(count=count, since=time.monotonic())
            return count > 0 and time.monotonic() - settled["since"] > 15

        await wait_for(mail_settled, 120)
        stop_watch.set()
        await watcher
        for process in d.processes.values():
            process.sample()

        log("reading back every stored reading (QUORUM)")
        session_cluster, session = await asyncio.to_thread(cluster.session)
        stored_by_provider, twice = {}, 0
        for slug in (d.shared, d.dedicated):
            rows, duplicated, misplaced = await asyncio.to_thread(verdict.scan_readings, session, f"hg_{slug}")
            stored_by_provider[slug] = rows
            figures.check(f"no reading stored twice or in another day's partition ({slug})",
                          not duplicated and not misplaced, verdict._sample(duplicated + misplaced))
            twice += len(duplicated) + len(misplaced)
        stored = verdict.compare(load.ledger, stored_by_provider, figures)
        figures.readings["duplicated"] = twice
        rng = random.Random(args.seed)
        sample = rng.sample([g for g in load.gateways], 3 if args.minutes <= 5 else 6)
        sites = [(g.provider, g.id, g.device) for g in sample]
        steps = [
            ("report API", lambda: verdict.check_reports(panels, sites, stored, figures)),
            ("SMTP sink", lambda: verdict.check_mail(verdict.mail_messages(d.smtp_dir), len(d.accounts), figures)),
            ("refusal lists", lambda: verdict.check_refusals(session, d.registry, d.dedicated,
                                                             set(SHARED + SUNSPEC + [EVIL]), figures)),
            ("processes", lambda: verdict.check_processes(d.processes, BOUNDS_MIB, figures)),
        ]
        for name, step in steps:
            try:
                await asyncio.to_thread(step)
            except Exception as e:  # a check that cannot be made fails, and the others still run
                figures.check(f"{name} could be checked", False, repr(e))
        figures.check("honest gateways saw no protocol anomaly (wrong answers, refused hellos)",
                      not load.ledger.anomalies, verdict._sample(load.ledger.anomalies))
        figures.check("attacks got the documented answers", not attacks.findings,
                      verdict._sample([f"{a}: {t}" for a, t in attacks.findings]))
        figures.check("every document acknowledged by the end", left == 0, f"{left} left")
        latencies = sorted(load.ledger.latencies)
        figures.stall = (latencies[-1] if latencies else 0.0,
                         latencies[int(len(latencies) * 0.99)] if latencies else 0.0, len(latencies))
        figures.answers = dict(load.ledger.answers)
        figures.attacks = dict(attacks.answers)
        wall_s = time.monotonic() - wall
        text = report.table(args, plan, nemesis, figures, wall_s)
        print(text, flush=True)
        if args.report:
            report.write(args.report, text, args, figures, REPO, started_at)
            log(f"wrote {args.report}")
        finished = figures.passed
        return 0 if figures.passed else 1
    finally:
        stop_watch.set()
        d.stop_all()
        if disk is not None:
            try:
                await disk.teardown()
            except Exception as e:  # noqa: BLE001 - said, so that an operator can undo it by hand
                log(f"could not move node {disk.node}'s commit log back off {disk.commitlog}: {e!r}")
        if session is None:
            try:
                session_cluster, session = cluster.session()
            except Exception as e:  # the verdict has already failed; say why the cleanup could not run
                log(f"cannot connect to drop the run's keyspaces: {e!r}")
        if session is not None and not args.keep:
            # A drop that reaches a node still catching up with the schema aborts its merge.
            try:
                await cluster.agree(log)
            except Exception as e:  # noqa: BLE001 - the drop is tried all the same
                log(f"cannot check schema agreement before the drop: {e!r}")
            for keyspace in (d.registry, f"hg_{d.shared}", f"hg_{d.dedicated}"):
                try:
                    session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
                except Exception as e:  # noqa: BLE001 - a leftover keyspace is reported, not fatal
                    log(f"could not drop {keyspace}: {e!r}")
        if session_cluster is not None:
            session_cluster.shutdown()
        if not args.keep and finished and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept for inspection: {work}")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log = Log()
    try:
        return asyncio.run(run(args, log))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
