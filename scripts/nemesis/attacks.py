"""Attacks, in bursts, beside the honest load: the hostile inputs of tests/hostile_input.rs and the
resource attacks of the ingest hardening issue (idle connections full of whitespace, half-sent
HTTP requests, hellos with another provider's gateway ids on a dedicated port, floods of unknown
gateway ids). Each answer is checked against docs/protocol.md; what contradicts it is a finding."""

from __future__ import annotations

import asyncio
import base64
import collections
import secrets
import time

from gateways import ANSWER_TIMEOUT, answer_code, http_request, rfc3339


class Attacks:
    def __init__(self, deployment, load, log):
        self.d, self.load, self.log = deployment, load, log
        self.answers = collections.Counter()  # (attack, answer)
        self.findings = []  # (attack, text)
        self.background = []  # tasks still holding connections
        self.http_stalls = []  # (connections, still open after the deadline)

    def finding(self, attack: str, text: str) -> None:
        if sum(1 for a, _ in self.findings if a == attack) < 20:
            self.findings.append((attack, text))
        self.log(f"FINDING {attack}: {text}")

    def ingest(self, target: str):
        p = self.d.ports
        return (p.ingest_a, p.http_a, "127.0.0.1") if target == "ingest-a" else (p.ingest_b, p.http_b, "127.0.0.2")

    async def run(self, fault) -> str:
        return await getattr(self, fault.kind)(fault)

    # -- hostile documents ---------------------------------------------------------------------

    async def hostile_xml(self, fault) -> str:
        port, _, _ = self.ingest(fault.target)
        evil = self.d.evil
        token = self.d.token(evil)
        ts = rfc3339(int(time.time()) - 120)
        good = f'<reading device="evil-1" ts="{ts}"><ac_power>1</ac_power></reading>'
        cases = [
            ("too_deep", "<batch>" + "<a>" * 100_000),
            ("malformed", f'<batch seq="1"><reading device="evil-1" ts="{ts}"><ac_power>'.encode()
             + b"\xff\xfe\x80" + b"</ac_power></reading></batch>\n"),
            ("dtd_forbidden", '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
             '"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><batch>&lol2;</batch>\n'),
            ("too_large", "<batch>" + " " * (2 * 1024 * 1024)),
            ("invalid", "<frobnicate/>\n"),
            ("too_many_readings", '<batch seq="2">' + good * 10_001 + "</batch>\n"),
            ("malformed", "some text between documents <batch/>\n"),
            ("malformed", '<batch seq="3"><reading device="evil-1" ts="' + ts + '"><ac_power>1</ac_pow'),
        ]
        for _ in range(fault.params.get("rounds", 1)):
            for expected, payload in cases:
                await self._hostile(port, evil, token, expected, payload)
        return f"{len(cases) * fault.params.get('rounds', 1)} hostile documents"

    async def _hostile(self, port, gateway, token, expected, payload) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, asyncio.TimeoutError):
            self.answers[("hostile_xml", "no connection")] += 1
            return
        try:
            writer.write(f'<hello gateway="{gateway}" token="{token}"/>\n'.encode())
            welcome = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
            if not welcome.startswith(b"<welcome"):
                self.answers[("hostile_xml", f"hello:{answer_code(welcome) if welcome else 'closed'}")] += 1
                return
            writer.write(data)
            if expected == "malformed" and data.endswith(b"</ac_pow"):
                writer.write_eof()  # the connection ends inside a document
            try:
                await asyncio.wait_for(writer.drain(), 20)
            except (OSError, asyncio.TimeoutError):
                pass  # the server stopped reading: it answers what it has
            line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
            got = answer_code(line) if line else "closed"
            self.answers[("hostile_xml", got)] += 1
            if got not in (expected, "closed"):
                self.finding("hostile_xml", f"expected {expected}, got {line[:200]!r}")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            self.answers[("hostile_xml", type(e).__name__)] += 1
        finally:
            writer.close()

    # -- memory: whitespace between documents --------------------------------------------------

    async def whitespace_flood(self, fault) -> str:
        port, _, _ = self.ingest(fault.target)
        count = fault.params["connections"]
        chunk = b" " * (1024 * 1024)
        writers = []

        async def one():
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 10)
                writers.append(writer)
                self.answers[("whitespace_flood", "sent 1 MiB")] += 1
            except (OSError, asyncio.TimeoutError) as e:
                self.answers[("whitespace_flood", type(e).__name__)] += 1

        limit = asyncio.Semaphore(50)

        async def bounded():
            async with limit:
                await one()

        await asyncio.gather(*(bounded() for _ in range(count)))
        await asyncio.sleep(fault.duration)  # idle, holding what was sent
        for writer in writers:
            writer.close()
        return f"{len(writers)} of {count} connections held 1 MiB each for {fault.duration:.0f} s"

    # -- HTTP: half-sent requests, and a big body with bad credentials ---------------------------

    async def http_stall(self, fault) -> str:
        _, http, _ = self.ingest(fault.target)
        count = fault.params["connections"]
        conns = []
        for _ in range(count):
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", http), 5)
                writer.write(b"POST /sunspec HTTP/1.1\r\nHost: nemesis\r\nContent-Le")
                conns.append((reader, writer))
            except (OSError, asyncio.TimeoutError):
                self.answers[("http_stall", "no connection")] += 1
        self.background.append(asyncio.create_task(self._watch_stalls(conns)))
        # Credentials are checked before the body is read: a 1 MiB POST with a wrong password
        # is answered 401 without sending the body.
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", http), 5)
            auth = base64.b64encode(f"{self.d.evil}:{'0' * 64}".encode()).decode()
            writer.write(f"POST /sunspec HTTP/1.1\r\nHost: nemesis\r\nAuthorization: Basic {auth}\r\n"
                         f"Content-Type: application/xml\r\nContent-Length: {1024 * 1024}\r\n\r\n".encode())
            await writer.drain()
            try:
                # 401, or 503 when the store cannot be asked about the credentials: either well
                # within the store's request timeout and the header deadline, without the body.
                line = await asyncio.wait_for(reader.readline(), 30)
                status = line.split(b" ")[1].decode() if line.startswith(b"HTTP/") else "closed"
            except asyncio.TimeoutError:
                status = "no answer before the body"
                self.finding("http_stall", "a POST with a wrong password and a 1 MiB Content-Length got no answer "
                                           "in 30 s without its body: credentials are checked after the body is read")
            self.answers[("http_big_unauthenticated", status)] += 1
            writer.close()
        except (OSError, asyncio.TimeoutError) as e:
            self.answers[("http_big_unauthenticated", type(e).__name__)] += 1
        return f"{len(conns)} half-sent requests held (watched for 60 s)"

    async def _watch_stalls(self, conns, deadline_s: float = 60.0) -> None:
        started = time.monotonic()
        open_ = list(conns)
        while open_ and time.monotonic() - started < deadline_s:
            await asyncio.sleep(1)
            still = []
            for reader, writer in open_:
                if reader.at_eof():
                    writer.close()
                    continue
                try:
                    data = await asyncio.wait_for(reader.read(4096), 0.01)
                    if not data:
                        writer.close()
                        continue
                    # An answer (408, 400) then a close is fine: keep reading until EOF.
                except asyncio.TimeoutError:
                    pass
                except OSError:
                    writer.close()
                    continue
                still.append((reader, writer))
            open_ = still
        self.http_stalls.append((len(conns), len(open_)))
        self.answers[("http_stall", f"open after {deadline_s:.0f} s")] += len(open_)
        self.answers[("http_stall", "closed by the server")] += len(conns) - len(open_)
        if open_:
            self.finding("http_stall", f"{len(open_)} of {len(conns)} half-sent HTTP requests still open "
                                       f"{deadline_s:.0f} s later")
        for _, writer in open_:
            writer.close()

    # -- tenants: a hello with another provider's gateway id on a dedicated port ---------------

    async def cross_hello(self, fault) -> str:
        port, http, host = self.ingest(fault.target)
        dedicated = self.d.ports.dedicated
        victims = [a for a in self.d.accounts if a.provider == self.d.shared and a.id != self.d.evil]
        victims = victims[: fault.params.get("ids", 2)]
        for victim in victims:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, dedicated), 5)
                writer.write(f'<hello gateway="{victim.id}" token="{secrets.token_hex(32)}"/>\n'.encode())
                line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
                self.answers[("cross_hello", answer_code(line) if line else "closed")] += 1
                writer.close()
            except (OSError, asyncio.TimeoutError) as e:
                self.answers[("cross_hello", type(e).__name__)] += 1
                continue
            # The victim, with its real token, on the same process's shared port and over HTTP.
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
                writer.write(f'<hello gateway="{victim.id}" token="{victim.token}"/>\n'.encode())
                line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
                writer.close()
                if answer_code(line) == "unauthorized":  # `unavailable` only says the store is away
                    self.finding("cross_hello", f"after a hello with {victim.id} on {self.d.dedicated}'s dedicated port "
                                                f"({host}:{dedicated}), the real {victim.id} is refused on the shared "
                                                f"port of {fault.target}: {line.strip()[:120]!r}")
                auth = base64.b64encode(f"{victim.id}:{victim.token}".encode()).decode()
                status, _ = await http_request("127.0.0.1", http, "POST", "/sunspec", b"<sunSpecData v=\"1\"/>",
                                               {"Authorization": f"Basic {auth}"})
                if status == 401:
                    self.finding("cross_hello", f"after a hello with {victim.id} on a dedicated port, its SunSpec "
                                                f"upload to {fault.target} gets HTTP 401")
            except (OSError, asyncio.TimeoutError, ValueError, IndexError) as e:
                self.answers[("cross_hello probe", type(e).__name__)] += 1
        return f"{len(victims)} foreign ids said hello on {host}:{dedicated}"

    # -- refusal lists: a flood of unknown ids -------------------------------------------------

    async def unknown_ids(self, fault) -> str:
        port, _, _ = self.ingest(fault.target)
        count = fault.params["hellos"]
        limit = asyncio.Semaphore(20)

        async def one(i):
            async with limit:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
                    writer.write(f'<hello gateway="ROGUE-{secrets.token_hex(6)}" token="x"/>\n'.encode())
                    line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
                    got = answer_code(line) if line else "closed"
                    self.answers[("unknown_ids", got)] += 1
                    # `unavailable`: the store could not be asked whose id it is (no quorum).
                    if got not in ("unauthorized", "busy", "unavailable", "closed"):
                        self.finding("unknown_ids", f"an unknown id got {line[:120]!r}")
                    writer.close()
                except (OSError, asyncio.TimeoutError) as e:
                    self.answers[("unknown_ids", type(e).__name__)] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        return f"{count} unknown ids"

    async def finish(self) -> None:
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
