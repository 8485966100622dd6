"""The three-node Cassandra cluster, driven through scripts/cassandra.sh (kill, restart) and its
pid files (SIGSTOP, SIGCONT), and read with the Python driver for the verdict."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cluster:
    """Where the cluster runs and how scripts/cassandra.sh reaches it."""

    script: Path
    run_dir: Path
    port: int
    storage_port: int
    jmx_port: int
    heap: str
    nodes: int = 3

    def addresses(self) -> list:
        return [f"127.0.0.{n}:{self.port}" for n in range(1, self.nodes + 1)]

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            CASSANDRA_RUN_DIR=str(self.run_dir),
            CASSANDRA_PORT=str(self.port),
            CASSANDRA_STORAGE_PORT=str(self.storage_port),
            CASSANDRA_JMX_PORT=str(self.jmx_port),
            CASSANDRA_HEAP=self.heap,
        )
        return env

    def pid(self, node: int):
        try:
            return int((self.run_dir / f"node{node}" / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self, node: int) -> bool:
        pid = self.pid(node)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

    async def control(self, *args: str, timeout: float = 300) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(self.script), *args, env=self.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"cassandra.sh {' '.join(args)} did not finish in {timeout:.0f} s")
        if proc.returncode != 0:
            raise RuntimeError(f"cassandra.sh {' '.join(args)} failed: {err.decode(errors='replace')[-2000:]}")
        return out.decode(errors="replace")

    async def kill(self, node: int) -> None:
        self.resume(node)  # a paused node dies as well, but its pid file must be read first
        await self.control("kill", str(node))

    async def restart(self, node: int) -> None:
        await self.control("restart", str(node))

    def pause(self, node: int) -> None:
        pid = self.pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def resume(self, node: int) -> None:
        pid = self.pid(node)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    async def heal(self, log) -> None:
        """Every node running and not paused."""
        for node in range(1, self.nodes + 1):
            self.resume(node)
            if not self.running(node):
                log(f"heal: restarting node {node}")
                await self.restart(node)

    def session(self):
        """A driver session on every node (imported here: only the verdict needs the driver)."""
        from cassandra.cluster import Cluster as DriverCluster
        from cassandra.policies import RoundRobinPolicy

        cluster = DriverCluster(
            [f"127.0.0.{n}" for n in range(1, self.nodes + 1)], port=self.port,
            load_balancing_policy=RoundRobinPolicy(), protocol_version=5,
            connect_timeout=15, control_connection_timeout=15, max_schema_agreement_wait=120)
        return cluster, cluster.connect()
