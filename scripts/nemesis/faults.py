"""Carries out the schedule: one task per lane, each fault healed before the lane's next one, and
a heal of everything at the end (nodes resumed and restarted, processes resumed and restarted)."""

from __future__ import annotations

import asyncio
import collections
import signal
import time


class Nemesis:
    def __init__(self, plan, cluster, deployment, load, attacks, log, disk=None):
        self.plan, self.cluster, self.d, self.load, self.attacks, self.log = plan, cluster, deployment, load, attacks, log
        self.disk = disk
        self.done = collections.Counter()  # kind -> faults carried out
        self.skipped = collections.Counter()
        self.executed = []  # (planned at, started at, fault, outcome)
        self.started = 0.0

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self, seconds: float) -> None:
        self.started = time.monotonic()
        await asyncio.gather(*(self._lane(faults, seconds) for faults in self.plan.lanes.values()))

    async def _lane(self, faults, seconds) -> None:
        for fault in faults:
            # Every planned fault is carried out, even when a slow restart earlier in its lane
            # pushed it past the planned end: the same seed replays the same faults.
            wait = fault.at - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            began = self.now()
            try:
                outcome = await self._carry_out(fault)
                self.done[fault.kind] += 1
            except Exception as e:  # a fault that cannot be carried out is reported, not fatal
                outcome = f"FAILED to carry out: {e!r}"
                self.skipped[fault.kind] += 1
            self.executed.append((fault.at, began, fault, outcome))
            self.log(f"{fault.kind} {fault.target}: {outcome} ({self.now() - began:.1f} s)")

    async def _carry_out(self, fault) -> str:
        kind, target, duration = fault.kind, fault.target, fault.duration
        if kind == "node_kill":
            node = int(target[4:])
            await self.cluster.kill(node)
            await asyncio.sleep(duration)
            began = time.monotonic()
            await self.cluster.restart(node)
            return f"killed, down {duration:.0f} s, back in {time.monotonic() - began:.0f} s"
        if kind == "node_pause":
            node = int(target[4:])
            self.cluster.pause(node)
            try:
                await asyncio.sleep(duration)
            finally:
                self.cluster.resume(node)
            return f"paused {duration:.0f} s"
        if kind == "spool_full":
            nodes = [int(n[4:]) for n in target.split("+")]
            before = self.load.ledger.answers.copy()
            for node in nodes:
                self.cluster.pause(node)
            try:
                await asyncio.sleep(duration)
            finally:
                for node in nodes:
                    self.cluster.resume(node)
            unavailable = sum(v for (_, code), v in self.load.ledger.answers.items() if code == "unavailable") - sum(
                v for (_, code), v in before.items() if code == "unavailable")
            return f"no quorum for {duration:.0f} s; {unavailable} unavailable answers meanwhile"
        if kind == "disk_full":
            if self.disk is None or not self.disk.ready:
                raise RuntimeError(self.disk.reason if self.disk else "no loop-mounted commit log")
            return await self.disk.fill(duration)
        if kind == "ingest_kill":
            process = self.d.processes[target]
            process.kill()
            await asyncio.sleep(duration)
            process.start()
            await process.wait_ready()
            return f"killed, restarted after {duration:.0f} s on the same spool"
        if kind == "ingest_pause":
            process = self.d.processes[target]
            process.signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(duration)
            finally:
                process.signal(signal.SIGCONT)
            return f"paused {duration:.0f} s"
        if kind == "mailer_kill":
            process = self.d.processes[target]
            process.kill()
            await asyncio.sleep(duration)
            process.start()
            await process.wait_ready()
            return f"killed, restarted after {duration:.0f} s"
        if kind == "clock_jump":
            self.load.by_id(target).clock_jump(fault.params["offset_s"])
            return f"clock off by {fault.params['offset_s'] / 86400:+.0f} days for one document"
        return await self.attacks.run(fault)

    async def heal(self) -> None:
        """Every fault undone: nodes resumed or restarted, processes resumed or restarted."""
        if self.disk is not None:
            await self.disk.heal(self.log)
        await self.cluster.heal(self.log)
        for name, process in self.d.processes.items():
            process.signal(signal.SIGCONT)
            if not process.alive():
                self.log(f"heal: {name} is not running (exit {process.popen.returncode if process.popen else '?'}); "
                         "restarting it")
                process.start()
                await process.wait_ready()
