"""Honest load: simulated gateways that behave like real ones (native XML on the shared port and
on a provider's dedicated port, SunSpec over HTTP), each keeping a ledger of every reading it sent
and every answer it got. A document not acknowledged is kept and sent again, after reconnecting
when the connection broke, until it is acknowledged or refused for good."""

from __future__ import annotations

import asyncio
import base64
import collections
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

ANSWER_TIMEOUT = 30.0  # a real gateway gives up on an answer after a while and reconnects
MAX_SKEW_S = 600  # the server's default: readings further ahead are refused
EPOCH_2000 = 946684800


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Reading:
    """One reading as sent, and what became of it."""

    values: dict  # canonical metric -> value
    acked: bool = False
    rejected: str | None = None  # the reason the ack gave for refusing this reading
    expect_reject: bool = False  # outside the server's time window (a clock jump)


@dataclass
class Document:
    seq: int
    readings: list  # (device, ts, values)
    first_sent: float | None = None
    attempts: int = 0


class Ledger:
    """Everything sent and every answer, across all honest gateways."""

    def __init__(self):
        self.readings = {}  # (provider, gateway, device, ts) -> Reading
        self.answers = collections.Counter()  # (channel, answer code)
        self.latencies = []  # seconds from a document's first send to its acknowledgement
        self.documents_sent = 0
        self.documents_acked = 0
        self.reconnects = collections.Counter()
        self.anomalies = []  # answers that contradict the protocol, with details

    def sent(self, provider, gateway, doc: Document, expect_reject=False):
        for device, ts, values in doc.readings:
            key = (provider, gateway, device, ts)
            if key not in self.readings:
                self.readings[key] = Reading(values, expect_reject=expect_reject or _outside_window(ts))

    def anomaly(self, text: str):
        if len(self.anomalies) < 200:
            self.anomalies.append(text)


def _outside_window(ts: int) -> bool:
    return ts > time.time() + MAX_SKEW_S or ts < EPOCH_2000


class Closed(Exception):
    """The connection ended or must be dropped."""


class Gateway:
    """What every simulated gateway shares: its timeline of readings and its unacked documents."""

    channel = "?"
    per_document = 10

    def __init__(self, provider: str, gateway: str, token: str, ledger: Ledger, rng: random.Random,
                 start: int, step: int, endpoints: list, load):
        self.provider, self.id, self.token, self.ledger, self.rng = provider, gateway, token, ledger, rng
        self.next_ts, self.step, self.endpoints, self.load = start, step, endpoints, load
        self.energy = rng.randint(1_000_000, 5_000_000)
        self.pending = collections.deque()
        self.seq = 0
        self.device = "inv-1"

    def new_document(self):
        if self.next_ts + self.per_document * self.step > time.time() - 60:
            return None  # caught up with the present: nothing newer to send yet
        readings = []
        for _ in range(self.per_document):
            power = self.rng.randint(0, 9800)
            self.energy += power * self.step // 3600
            readings.append((self.device, self.next_ts, {"ac_power": float(power), "energy": float(self.energy)}))
            self.next_ts += self.step
        self.seq += 1
        doc = Document(self.seq, readings)
        self.ledger.sent(self.provider, self.id, doc)
        return doc

    def clock_jump(self, offset_s: int) -> None:
        """One document from a clock that is `offset_s` off: a sensor's readings a minute apart."""
        base = int(time.time()) + offset_s
        value = float(self.rng.randint(0, 1200))
        readings = [("sensor-1", base + 60 * i, {"irradiance": value + i}) for i in range(5)]
        self.seq += 1
        doc = Document(self.seq, readings)
        self.ledger.sent(self.provider, self.id, doc)
        self.pending.appendleft(doc)

    def next_document(self):
        if not self.pending and self.load.producing:
            doc = self.new_document()
            if doc is not None:
                self.pending.append(doc)
        return self.pending[0] if self.pending else None

    def finished(self) -> bool:
        return not self.load.producing and not self.pending

    def acked(self, doc: Document, rejected: dict) -> None:
        """`rejected`: (device, ts) -> reason, from the answer."""
        for device, ts, _ in doc.readings:
            reading = self.ledger.readings[(self.provider, self.id, device, ts)]
            reason = rejected.get((device, ts))
            if reason is None:
                reading.acked = True
            elif not reading.acked:
                reading.rejected = reason
        self.ledger.documents_acked += 1
        self.ledger.latencies.append(time.monotonic() - doc.first_sent)
        self.pending.remove(doc)  # not necessarily the first: a clock jump may have jumped the queue

    def dropped(self, doc: Document, code: str) -> None:
        for device, ts, _ in doc.readings:
            reading = self.ledger.readings[(self.provider, self.id, device, ts)]
            if not reading.acked:
                reading.rejected = f"document refused: {code}"
        self.pending.remove(doc)

    async def run(self) -> None:
        while not self.finished():
            try:
                await self.session()
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, Closed, ValueError) as e:
                self.ledger.reconnects[(self.channel, type(e).__name__)] += 1
            if not self.finished():
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))

    async def session(self) -> None:
        raise NotImplementedError


ATTR = re.compile(rb'(\w+)="([^"]*)"')
REJECTED = re.compile(rb'<rejected device="([^"]*)" ts="([^"]*)" reason="([^"]*)"')


def answer_code(line: bytes) -> str:
    if line.startswith(b"<ack"):
        return "ack"
    if line.startswith(b"<welcome"):
        return "welcome"
    m = re.search(rb'code="([a-z_]+)"', line)
    return m.group(1).decode() if m else "garbled"


class NativeGateway(Gateway):
    """Native documents over TCP: a hello, then documents one at a time, each waiting for its
    answer; unavailable answers are retried on the same connection, anything that closes the
    connection (or no answer in time) makes it reconnect to any endpoint and resend."""

    def __init__(self, *args, channel="shared", **kw):
        super().__init__(*args, **kw)
        self.channel = channel

    async def session(self) -> None:
        host, port = self.rng.choice(self.endpoints)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        try:
            writer.write(f'<hello gateway="{self.id}" token="{self.token}"/>\n'.encode())
            await asyncio.wait_for(writer.drain(), 10)
            line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
            if not line:
                raise Closed("closed before the welcome")
            code = answer_code(line)
            if code != "welcome":
                self.ledger.answers[(self.channel, f"hello:{code}")] += 1
                if code == "unauthorized":
                    self.ledger.anomaly(f"{self.id} ({self.channel}, {host}:{port}): hello refused: {line.decode().strip()}")
                raise Closed(code)
            while True:
                doc = self.next_document()
                if doc is None:
                    if self.finished():
                        return
                    await asyncio.sleep(0.5)
                    continue
                if doc.first_sent is None:
                    doc.first_sent = time.monotonic()
                    self.ledger.documents_sent += 1
                doc.attempts += 1
                writer.write(self.xml(doc))
                await asyncio.wait_for(writer.drain(), ANSWER_TIMEOUT)
                line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
                if not line:
                    raise Closed("closed without an answer")
                if not self.answer(doc, line, f"{host}:{port}"):
                    raise Closed("answer closes the connection")
                await asyncio.sleep(self.load.pace)
        finally:
            writer.close()

    def xml(self, doc: Document) -> bytes:
        parts = [f'<batch seq="{doc.seq}">']
        for device, ts, values in doc.readings:
            if device.startswith("sensor"):
                parts.append(f'<reading device="{device}" kind="irradiance_sensor" ts="{rfc3339(ts)}">'
                             f'<irradiance unit="W/m2">{values["irradiance"]:g}</irradiance></reading>')
            else:
                parts.append(f'<reading device="{device}" kind="inverter" ts="{rfc3339(ts)}">'
                             f'<ac_power unit="W">{values["ac_power"]:.0f}</ac_power>'
                             f'<energy unit="Wh">{values["energy"]:.0f}</energy></reading>')
        parts.append("</batch>\n")
        return "".join(parts).encode()

    def answer(self, doc: Document, line: bytes, where: str) -> bool:
        """Handles one answer; False when the connection is to be dropped."""
        code = answer_code(line)
        self.ledger.answers[(self.channel, code)] += 1
        attrs = {k.decode(): v.decode() for k, v in ATTR.findall(line.split(b">")[0])}
        if code == "ack":
            if attrs.get("seq") != str(doc.seq):
                self.ledger.anomaly(f"{self.id}: answer for seq {attrs.get('seq')} to document {doc.seq}: {line[:200]!r}")
                return False
            by_text = {(d, rfc3339(ts)): (d, ts) for d, ts, _ in doc.readings}
            rejected = {}
            for device, ts, reason in REJECTED.findall(line):
                key = by_text.get((device.decode(), ts.decode()))
                if key is None:
                    self.ledger.anomaly(f"{self.id}: ack rejects a reading not in the document: {line[:300]!r}")
                else:
                    rejected[key] = reason.decode()
            if int(attrs.get("accepted", "-1")) != len(doc.readings) - len(rejected):
                self.ledger.anomaly(f"{self.id}: ack counts disagree with its list: {line[:300]!r}")
            self.acked(doc, rejected)
            return True
        if code == "unavailable":
            return True  # kept; sent again on this connection after the pace
        if code in ("invalid", "too_many_readings"):
            self.ledger.anomaly(f"{self.id} ({where}): an honest document refused: {line.decode().strip()}")
            self.dropped(doc, code)
            return True
        if code == "unauthorized":
            self.ledger.anomaly(f"{self.id} ({self.channel}, {where}): document refused: {line.decode().strip()}")
        return False


class SunSpecGateway(Gateway):
    """A SunSpec data logger: one POST per document with Basic credentials, to either ingest."""

    channel = "sunspec_http"
    per_document = 6

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.device = f"SN-{self.id}"
        self.auth = base64.b64encode(f"{self.id}:{self.token}".encode()).decode()

    def xml(self, doc: Document) -> str:
        records = "".join(
            f'<d lid="00:00:00:00:00:01" man="Nemesis" mod="SIM-1" sn="{device}" t="{rfc3339(ts)}">'
            f'<m id="101" x="1"><p id="W">{values["ac_power"]:.0f}</p><p id="WH">{values["energy"]:.0f}</p></m></d>'
            for device, ts, values in doc.readings)
        return f'<sunSpecData v="1">{records}</sunSpecData>'

    async def session(self) -> None:
        while True:
            doc = self.next_document()
            if doc is None:
                if self.finished():
                    return
                await asyncio.sleep(0.5)
                continue
            if doc.first_sent is None:
                doc.first_sent = time.monotonic()
                self.ledger.documents_sent += 1
            doc.attempts += 1
            host, port = self.rng.choice(self.endpoints)
            status, body = await http_request(host, port, "POST", "/sunspec", self.xml(doc).encode(),
                                              {"Authorization": f"Basic {self.auth}",
                                               "Content-Type": "application/xml"})
            if status == 200 and b"<status>SUCCESS</status></sunSpecDataResponse>" in body.replace(b"\n", b""):
                self.ledger.answers[(self.channel, "ack")] += 1
                self.acked(doc, {})
            elif status == 200:
                self.ledger.answers[(self.channel, "dr_failure")] += 1
                self.ledger.anomaly(f"{self.id}: an honest SunSpec upload partly refused: {body[:400]!r}")
                self.acked(doc, self.refused_records(doc, body))
            else:
                code = {503: "unavailable", 401: "unauthorized", 413: "too_large", 400: "invalid"}.get(status, f"http_{status}")
                self.ledger.answers[(self.channel, code)] += 1
                if code in ("invalid", "too_large"):
                    self.ledger.anomaly(f"{self.id}: an honest SunSpec upload refused with {status}: {body[:300]!r}")
                    self.dropped(doc, code)
                else:
                    if code == "unauthorized":
                        self.ledger.anomaly(f"{self.id} (sunspec_http, {host}:{port}): upload refused 401")
                    raise Closed(code)
            await asyncio.sleep(self.load.pace)

    @staticmethod
    def refused_records(doc: Document, body: bytes) -> dict:
        refused = {}
        for m in re.finditer(rb'<dResult id="(\d+)"[^>]*><status>FAILURE</status>(?:<code>([^<]*)</code>)?', body):
            index = int(m.group(1)) - 1
            if 0 <= index < len(doc.readings):
                device, ts, _ = doc.readings[index]
                refused[(device, ts)] = (m.group(2) or b"FAILURE").decode()
        return refused


async def http_request(host: str, port: int, method: str, path: str, body: bytes = b"", headers=None,
                       timeout: float = ANSWER_TIMEOUT):
    """One HTTP/1.1 request on a connection of its own; (status, body). Raises on no answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await asyncio.wait_for(writer.drain(), timeout)
        response = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    if not response:
        raise Closed("no HTTP response")
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in response else b""


@dataclass
class Load:
    """All honest gateways and the switch that stops them producing new documents."""

    ledger: Ledger = field(default_factory=Ledger)
    gateways: list = field(default_factory=list)
    producing: bool = True
    pace: float = 0.15
    tasks: list = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(g.run(), name=f"gateway {g.id}") for g in self.gateways]

    async def finish(self, timeout: float) -> int:
        """Stops new documents and waits for every unacked one to be acked; how many are left."""
        self.producing = False
        done, pending = await asyncio.wait(self.tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                self.ledger.anomaly(f"{task.get_name()} crashed: {task.exception()!r}")
        return sum(len(g.pending) for g in self.gateways)

    def by_id(self, gateway: str):
        return next(g for g in self.gateways if g.id == gateway)
