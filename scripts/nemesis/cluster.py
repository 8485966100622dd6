"""The three-node Cassandra cluster, driven through scripts/cassandra.sh (kill, restart) and its
pid files (SIGSTOP, SIGCONT), and read with the Python driver for the verdict."""

from __future__ import annotations

import asyncio
import os
import signal
import time
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
        """SIGKILL, and wait until the process is gone (its files and ports released)."""
        pid = self.pid(node)
        self.resume(node)  # a paused node dies as well, but its pid file must be read first
        await self.control("kill", str(node))
        deadline = time.monotonic() + 30
        while pid is not None and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            try:
                if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                    break  # a zombie holds nothing; its parent (a session of its own) reaps it
            except OSError:
                break
            await asyncio.sleep(0.1)

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

    async def agree(self, log, timeout: float = 60) -> bool:
        """Waits for every node to have the same schema. A node restarted while keyspaces were
        created or dropped can stay behind for good (its schema merge aborts on a table it has
        commit log entries for but no schema); as an operator would, each node outside the
        largest group first gets its local schema reset from its peers, then a restart."""
        for remedy in ("resetlocalschema", "restart", None):
            deadline = time.monotonic() + timeout
            while True:
                groups = schema_groups(await self.control("nodetool", "1", "describecluster"))
                if len(groups) <= 1:
                    return True
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(3)
            if remedy is None:
                return False
            largest = max(groups, key=len)
            behind = [n for group in groups if group is not largest for n in group]
            log(f"the nodes disagree on the schema {groups}; node(s) {behind}: {remedy}")
            for node in behind:
                if remedy == "restart":
                    await self.kill(node)
                    await self.restart(node)
                else:
                    await self.control("nodetool", str(node), remedy)
        return False

    def session(self):
        """A driver session on every node (imported here: only the verdict needs the driver)."""
        from cassandra.cluster import Cluster as DriverCluster
        from cassandra.policies import RoundRobinPolicy

        cluster = DriverCluster(
            [f"127.0.0.{n}" for n in range(1, self.nodes + 1)], port=self.port,
            load_balancing_policy=RoundRobinPolicy(), protocol_version=5,
            connect_timeout=15, control_connection_timeout=15, max_schema_agreement_wait=120)
        return cluster, cluster.connect()


def schema_groups(described: str) -> list:
    """The nodes (last octet of 127.0.0.N) of each schema version in `nodetool describecluster`."""
    groups, inside = [], False
    for line in described.splitlines():
        if "Schema versions:" in line:
            inside = True
            continue
        if not inside:
            continue
        if line.strip().startswith("Stats for all nodes") or line.strip().startswith("Data Centers"):
            break
        if ": [" in line and "UNREACHABLE" not in line:
            ips = line.split(": [", 1)[1].rstrip().rstrip("]")
            groups.append([int(ip.rsplit(".", 1)[1].split(":")[0]) for ip in ips.split(", ") if ip])
    return groups
