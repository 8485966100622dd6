"""The deployment under test: two `heliograph ingest` processes (each with its own spool; B's is
small), one `heliograph web`, two `heliograph mailer`s and an SMTP sink, all against the cluster,
with their configuration files, their providers and gateways, and their peak memory."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Ports handed out below Linux's ephemeral range and clear of the Cassandra ports the test
# command and this runner use (7xxx, 9xxx).
_PORTS = iter(range(20000 + (os.getpid() * 7919) % 6000, 32000))


def free_port() -> int:
    for port in _PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free loopback port")


@dataclass
class Ports:
    ingest_a: int = field(default_factory=free_port)
    ingest_b: int = field(default_factory=free_port)
    http_a: int = field(default_factory=free_port)
    http_b: int = field(default_factory=free_port)
    dedicated: int = field(default_factory=free_port)
    web: int = field(default_factory=free_port)
    mailer_1: int = field(default_factory=free_port)
    mailer_2: int = field(default_factory=free_port)
    smtp: int = field(default_factory=free_port)
    ops_ingest_a: int = field(default_factory=free_port)
    ops_ingest_b: int = field(default_factory=free_port)
    ops_web: int = field(default_factory=free_port)


# Random per run: the processes refuse placeholders and low-entropy secrets.
SESSION_SECRET = secrets.token_hex(32)
UNSUBSCRIBE_SECRET = secrets.token_hex(32)
PASSWORD = "nemesis panel password"


def config_text(cluster, registry: str, ports: Ports, spool: Path, *, listen: int, http: int,
                dedicated_host: str, spool_max_bytes: int, mailer_port: int, ops_ingest: int) -> str:
    # Every process has an internal address of its own for probes and metrics (`[ops]`): two
    # ingest processes and two mailers share this host. A mailer serves them on the same port.
    nodes = ", ".join(f'"{a}"' for a in cluster.addresses())
    return f"""[store]
backend = "cassandra"
nodes = [{nodes}]
registry_keyspace = "{registry}"
consistency = "local_quorum"
request_timeout_ms = 5000
registry_replication = {{ strategy = "simple", factor = 3 }}

[ingest]
listen = "127.0.0.1:{listen}"
http_listen = "127.0.0.1:{http}"
dedicated_host = "{dedicated_host}"
spool_dir = "{spool}"
spool_max_bytes = {spool_max_bytes}
registry_refresh_secs = 2

[web]
listen = "127.0.0.1:{ports.web}"
cookie_secure = false
session_secret = "{SESSION_SECRET}"

[mailer]
http_listen = "127.0.0.1:{mailer_port}"
transport = "smtp"
from_address = "reports@nemesis.example"
unsubscribe_secret = "{UNSUBSCRIBE_SECRET}"
tick_secs = 2
summary_delay_minutes = 0
catch_up_days = 4
alerts = false
concurrency = 2
lease_secs = 30
retry_base_secs = 2
retry_max_secs = 10

[mailer.smtp]
host = "127.0.0.1"
port = {ports.smtp}
security = "plain"
timeout_secs = 10

[ops]
ingest = "127.0.0.1:{ops_ingest}"
web = "127.0.0.1:{ports.ops_web}"
mailer = "127.0.0.1:{mailer_port}"

[log]
filter = "warn"
"""


class Process:
    """One long-running role (or the SMTP sink): started, SIGKILLed, paused, restarted, and its
    peak resident memory (VmHWM) sampled over all its incarnations."""

    def __init__(self, name: str, argv: list, log: Path, port: int, env: dict | None = None):
        self.name, self.argv, self.log, self.port, self.env = name, argv, log, port, env
        self.popen = None
        self.peak_kib = 0
        self.starts = 0
        self.down_on_purpose = False  # killed by a fault, until started again
        self.crashes = []  # exits nobody asked for

    def start(self) -> None:
        out = open(self.log, "ab")
        out.write(f"\n==== start {time.strftime('%H:%M:%S')} ====\n".encode())
        out.flush()
        self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=self.env, start_new_session=True)
        out.close()
        self.starts += 1
        self.down_on_purpose = False

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; log: {self.log}")
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 2)
                w.close()
                return
            except (OSError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not open port {self.port} in {timeout:.0f} s; log: {self.log}")
            await asyncio.sleep(0.2)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig) -> None:
        if self.alive():
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.sample()
        self.down_on_purpose = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in 15 s."""
        if not self.alive():
            return
        self.sample()
        self.down_on_purpose = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def sample(self) -> None:
        if not self.alive():
            return
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass


def run_cli(binary: Path, config: Path, *args: str, env: dict | None = None) -> str:
    out = subprocess.run([str(binary), "--config", str(config), *args], capture_output=True, text=True,
                         env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"heliograph {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout


@dataclass
class GatewayAccount:
    """A gateway provisioned in the store: its provider, id and token."""

    provider: str
    id: str
    token: str


class Deployment:
    """Everything started for one run, in `work`."""

    def __init__(self, binary: Path, cluster, work: Path, repo: Path, python: str, run_id: str):
        self.binary, self.cluster, self.work, self.repo, self.python = binary, cluster, work, repo, python
        self.ports = Ports()
        self.registry = f"nemesis_{run_id}_registry"
        self.shared = f"nm{run_id}_shared"  # gateways on the shared port and over SunSpec HTTP
        self.dedicated = f"nm{run_id}_ded"  # gateways on its own dedicated port
        self.spool_a = work / "spool-a"
        self.spool_b = work / "spool-b"
        self.smtp_dir = work / "smtp"
        self.configs = {}
        self.processes = {}
        self.accounts = []

    # -- configuration and provisioning --------------------------------------------------------

    def write_configs(self, spool_b_max: int) -> None:
        p = self.ports
        specs = {
            "ingest-a": dict(listen=p.ingest_a, http=p.http_a, dedicated_host="127.0.0.1",
                             spool=self.spool_a, spool_max_bytes=1 << 30, mailer_port=p.mailer_1, ops_ingest=p.ops_ingest_a),
            "ingest-b": dict(listen=p.ingest_b, http=p.http_b, dedicated_host="127.0.0.2",
                             spool=self.spool_b, spool_max_bytes=spool_b_max, mailer_port=p.mailer_2, ops_ingest=p.ops_ingest_b),
        }
        for name, spec in specs.items():
            path = self.work / f"{name}.toml"
            path.write_text(config_text(self.cluster, self.registry, p, **spec))
            self.configs[name] = path
        # web and mailers read the same store settings; their ports are in every file
        self.configs["web"] = self.configs["ingest-a"]
        self.configs["mailer-1"] = self.configs["ingest-a"]
        self.configs["mailer-2"] = self.configs["ingest-b"]
        self.configs["admin"] = self.configs["ingest-a"]

    def cli(self, *args: str, env: dict | None = None) -> str:
        return run_cli(self.binary, self.configs["admin"], *args, env=env)

    async def provision(self, shared_gateways: list, dedicated_gateways: list, log) -> None:
        """Providers (RF 3, daily summaries), a panel user each, a customer per gateway, gateways."""
        for slug, port in ((self.shared, None), (self.dedicated, self.ports.dedicated)):
            args = ["provider", "add", slug, "--name", f"Nemesis {slug}", "--replication", "simple:3",
                    "--summaries", "daily"]
            if port:
                args += ["--ingest-port", str(port)]
            started = time.monotonic()
            await asyncio.to_thread(self.cli, *args)
            log(f"provider {slug} created in {time.monotonic() - started:.1f} s")
            env = dict(os.environ, HELIOGRAPH_PASSWORD=PASSWORD)
            await asyncio.to_thread(self.cli, "user", "add", "--provider", slug, "nemesis",
                                    "--display-name", "Nemesis", env=env)
        jobs = [(self.shared, g) for g in shared_gateways] + [(self.dedicated, g) for g in dedicated_gateways]
        limit = asyncio.Semaphore(3)

        async def add(slug, gateway):
            async with limit:
                customer = (await asyncio.to_thread(
                    self.cli, "customer", "add", "--provider", slug, "--name", f"Owner of {gateway}",
                    "--email", f"{gateway.lower()}@customers.example")).strip()
                out = await asyncio.to_thread(
                    self.cli, "gateway", "add", "--provider", slug, gateway, "--site", f"Site {gateway}",
                    "--capacity-kwp", "10", "--customer", customer)
                return GatewayAccount(slug, gateway, out.splitlines()[1].strip())

        self.accounts = list(await asyncio.gather(*(add(s, g) for s, g in jobs)))
        log(f"{len(self.accounts)} gateways and their customers added")

    def token(self, gateway: str) -> str:
        return next(a.token for a in self.accounts if a.id == gateway)

    def provider_of(self, gateway: str) -> str:
        return next(a.provider for a in self.accounts if a.id == gateway)

    # -- processes -------------------------------------------------------------------------------

    def make_processes(self) -> None:
        p = self.ports
        roles = {
            "ingest-a": ("ingest", p.ingest_a), "ingest-b": ("ingest", p.ingest_b), "web": ("web", p.web),
            "mailer-1": ("mailer", p.mailer_1), "mailer-2": ("mailer", p.mailer_2),
        }
        for name, (role, port) in roles.items():
            argv = [str(self.binary), "--config", str(self.configs[name]), role]
            self.processes[name] = Process(name, argv, self.work / f"{name}.log", port)
        # A slow server, so that summaries are still being sent when a mailer is SIGKILLed.
        sink_env = dict(os.environ, PYTHONPATH=str(self.repo / "mailer" / "tests"), SMTP_SINK_DELAY="0.5")
        self.processes["smtp"] = Process(
            "smtp", [self.python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{p.smtp}", "-c", "smtp_sink.Sink",
                     str(self.smtp_dir)], self.work / "smtp.log", p.smtp, env=sink_env)

    async def start(self, *names: str) -> None:
        for name in names:
            self.processes[name].start()
        await asyncio.gather(*(self.processes[n].wait_ready() for n in names))

    def heliograph_processes(self) -> list:
        return [p for n, p in self.processes.items() if n != "smtp"]

    async def watch(self, stop: asyncio.Event, log) -> None:
        """Samples peak memory, and notes (and restarts) a process that exited by itself."""
        while not stop.is_set():
            for process in self.processes.values():
                process.sample()
                if process.popen is not None and not process.alive() and not process.down_on_purpose:
                    code = process.popen.returncode
                    process.crashes.append(code)
                    log(f"FINDING {process.name} exited by itself with {code}; log: {process.log}; restarting it")
                    process.start()
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


def spool_bytes(directory: Path, segments: bool = True) -> int:
    """Bytes in a spool directory's segments (`spool-*`: what is left to replay), or with
    `segments=False` in its other files (a dead-letter file, say)."""
    total = 0
    try:
        for entry in os.scandir(directory):
            if entry.is_file() and entry.name.startswith("spool-") == segments:
                total += entry.stat().st_size
    except OSError:
        pass
    return total


def python_executable() -> str:
    return sys.executable
