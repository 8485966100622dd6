"""A Cassandra node whose commit log lives on a small loop-mounted file system that a fault fills.

Set up before the chaos (the node is SIGKILLed, its commit log moved onto the new file system,
its segments made small so that a new one is needed every few seconds, and it is started again);
undone at the end (the node is stopped, its commit log moved back, the file system unmounted, the
node started again). Needs root and a loop device; when either is missing the runner says why and
carries out no disk-full fault."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

SIZE_MIB = 160
SEGMENT = "commitlog_segment_size: 4MiB\n"


class DiskFull:
    def __init__(self, cluster, node: int, work: Path, log):
        self.cluster, self.node, self.work, self.log = cluster, node, work, log
        self.image = work / f"commitlog-node{node}.img"
        self.commitlog = cluster.run_dir / f"node{node}" / "commitlog"
        self.yaml = cluster.run_dir / f"node{node}" / "cassandra.yaml"
        self.filler = self.commitlog / "nemesis-filler"
        self.ready = False
        self.reason = "not set up"
        self.mounted = False
        self.yaml_before = None

    def _run(self, *argv) -> None:
        out = subprocess.run(list(argv), capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {out.stderr.strip() or out.stdout.strip()}")

    async def setup(self) -> None:
        if os.geteuid() != 0:
            self.reason = "not root: cannot mount a file system for the commit log"
            return
        try:
            self._run("truncate", "-s", f"{SIZE_MIB}M", str(self.image))
            self._run("mkfs.ext4", "-q", "-F", str(self.image))
        except (RuntimeError, FileNotFoundError) as e:
            self.reason = f"cannot make the file system: {e}"
            return
        await self.cluster.kill(self.node)
        try:
            moved = self.commitlog.with_name("commitlog.nemesis-orig")
            os.rename(self.commitlog, moved)
            self.commitlog.mkdir()
            try:
                self._run("mount", "-o", "loop", str(self.image), str(self.commitlog))
            except (RuntimeError, FileNotFoundError) as e:
                self.commitlog.rmdir()
                os.rename(moved, self.commitlog)
                self.reason = f"mount failed: {e}"
                return
            self.mounted = True
            for entry in moved.iterdir():
                shutil.copy2(entry, self.commitlog / entry.name)
            shutil.rmtree(moved)
            self.yaml_before = self.yaml.read_text()
            self.yaml.write_text(self.yaml_before + SEGMENT)
            self.ready = True
            self.reason = ""
        finally:
            await self.cluster.restart(self.node)
        self.log(f"node {self.node}'s commit log is on a {SIZE_MIB} MiB loop-mounted file system")

    async def fill(self, duration: float) -> str:
        free = shutil.disk_usage(self.commitlog).free
        self._run("fallocate", "-l", str(max(free - 4096, 4096)), str(self.filler))
        try:
            await asyncio.sleep(duration)
        finally:
            self.filler.unlink(missing_ok=True)
        alive = self.cluster.running(self.node)
        # However the node took it (its commit failure policy stops it, or the JVM died), it is
        # started afresh on the freed disk.
        if alive:
            await self.cluster.kill(self.node)
        await self.cluster.restart(self.node)
        return f"commit log disk full for {duration:.0f} s (node {'still running' if alive else 'died'}); restarted"

    async def heal(self, log) -> None:
        self.filler.unlink(missing_ok=True)

    async def teardown(self) -> None:
        """The node's commit log back where it was, on the cluster's own disk."""
        if not self.mounted:
            return
        self.filler.unlink(missing_ok=True)
        await self.cluster.kill(self.node)
        try:
            kept = self.commitlog.with_name("commitlog.nemesis-back")
            kept.mkdir(exist_ok=True)
            for entry in self.commitlog.iterdir():
                if entry.is_file():
                    shutil.copy2(entry, kept / entry.name)
            self._run("umount", str(self.commitlog))
            self.mounted = False
            self.commitlog.rmdir()
            os.rename(kept, self.commitlog)
            if self.yaml_before is not None:
                self.yaml.write_text(self.yaml_before)
        finally:
            await self.cluster.restart(self.node)
            self.image.unlink(missing_ok=True)
