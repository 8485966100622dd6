"""The verdict: what the store holds (read back with the Cassandra driver at QUORUM, every row of
the run's providers) against the gateways' ledger; the report API of a sample of sites against
the same computation done here from the ledger; summaries at the SMTP sink by Message-ID; peak
memory and liveness of every process; and refusals that crossed tenants."""

from __future__ import annotations

import collections
import email.parser
import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from deployment import PASSWORD

DAY_S = 86400
MAX_COUNTER_GAP_S = 24 * 3600  # the reports' bridge across silent hours (shared/src/reports/energy.rs)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Figures:
    """What the run did and what it found; the table of the report."""

    readings: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)
    attacks: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    stall: tuple = (0.0, 0.0, 0)
    reports: str = ""
    mail: str = ""
    refusals: str = ""
    spool: str = ""
    checks: list = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)


# -- what the store holds -------------------------------------------------------------------------


def scan_readings(session, keyspace: str) -> tuple:
    """Every reading row of a provider keyspace: {(gateway, device, ts): values} and the rows
    that appear more than once or in the wrong day's partition."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    statement = SimpleStatement(
        f"SELECT gateway, device, day, ts, ac_power, energy, irradiance FROM {keyspace}.readings",
        fetch_size=5000, consistency_level=ConsistencyLevel.QUORUM)
    stored, duplicated, misplaced = {}, [], []
    for gateway, device, day, ts, ac_power, energy, irradiance in session.execute(statement, timeout=120):
        millis = round(ts.replace(tzinfo=timezone.utc).timestamp() * 1000)
        key = (gateway, device, millis // 1000 if millis % 1000 == 0 else millis / 1000)
        values = {k: v for k, v in (("ac_power", ac_power), ("energy", energy), ("irradiance", irradiance))
                  if v is not None}
        if key in stored:
            duplicated.append(key)
        stored[key] = values
        if day != millis // 1000 // DAY_S:
            misplaced.append((key, day))
    return stored, duplicated, misplaced


def compare(ledger, stored_by_provider: dict, figures: Figures) -> dict:
    """The ledger against the rows; returns the stored values by (provider, gateway, device, ts)."""
    counts = collections.Counter()
    lost, wrong, future, refused_honest, never_sent = [], [], [], [], []
    stored_all = {}
    for (provider, gateway, device, ts), reading in ledger.readings.items():
        counts["sent"] += 1
        row = stored_by_provider.get(provider, {}).get((gateway, device, ts))
        if row is not None:
            stored_all[(provider, gateway, device, ts)] = row
            counts["stored"] += 1
            if any(row.get(k) != v for k, v in reading.values.items()) or set(row) != set(reading.values):
                wrong.append(f"{provider}/{gateway}/{device} {ts}: sent {reading.values}, stored {row}")
        if reading.acked:
            counts["acked"] += 1
            if row is None:
                lost.append(f"{provider}/{gateway}/{device} at {ts}")
        elif reading.rejected is not None:
            counts["rejected"] += 1
        else:
            counts["unacked"] += 1
            if row is not None:
                counts["stored without an ack"] += 1
        if reading.expect_reject and (reading.acked or row is not None):
            future.append(f"{gateway}/{device} at {ts} ({datetime.fromtimestamp(ts, timezone.utc):%Y-%m-%d %H:%M})")
        if reading.rejected is not None and not reading.expect_reject:
            refused_honest.append(f"{gateway}/{device} at {ts}: {reading.rejected}")
    sent_keys = {(p, g, d, t) for (p, g, d, t) in ledger.readings}
    for provider, rows in stored_by_provider.items():
        for gateway, device, ts in rows:
            if (provider, gateway, device, ts) not in sent_keys:
                never_sent.append(f"{provider}/{gateway}/{device} at {ts}: {rows[(gateway, device, ts)]}")
    counts["lost"], counts["wrong value"], counts["never sent"] = len(lost), len(wrong), len(never_sent)
    figures.readings = dict(counts)
    figures.check("lost = 0 (every acknowledged reading is stored)", not lost, _sample(lost))
    figures.check("every stored value is the value sent", not wrong, _sample(wrong))
    figures.check("nothing stored that no gateway sent", not never_sent, _sample(never_sent))
    figures.check("readings outside the time window refused, not stored", not future, _sample(future))
    figures.check("no honest reading refused", not refused_honest, _sample(refused_honest))
    return stored_all


def _sample(items: list, n: int = 8) -> str:
    if not items:
        return "none"
    return f"{len(items)}: " + "; ".join(str(i) for i in items[:n]) + (" …" if len(items) > n else "")


# -- the report API against the ledger ------------------------------------------------------------


class Panel:
    """A logged-in panel session on the web process, and the API token it issued."""

    def __init__(self, port: int, provider: str):
        self.port, self.provider, self.cookie, self.token = port, provider, "", ""

    def request(self, method: str, path: str, body: dict | None = None, headers=None) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        all_headers = dict(headers or {})
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        if data is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        conn.close()
        return response.status, text, cookies

    def login(self) -> None:
        status, html, cookies = self.request("GET", "/login")
        self.cookie = next(c for c in cookies if c.startswith("hg_login="))
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        status, _, cookies = self.request("POST", "/login", {"csrf": csrf, "provider": self.provider,
                                                             "username": "nemesis", "password": PASSWORD})
        if status != 303:
            raise RuntimeError(f"panel login for {self.provider} answered {status}")
        self.cookie = next(c for c in cookies if c.startswith("hg_session="))
        status, html, _ = self.request("GET", "/settings")
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        status, html, _ = self.request("POST", "/settings/api-tokens", {"csrf": csrf, "name": "nemesis verdict"})
        self.token = re.search(r"hgp_[a-z0-9_]+_[0-9a-f]{64}", html).group(0)

    def api(self, path: str) -> tuple:
        saved, self.cookie = self.cookie, ""
        try:
            status, text, _ = self.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        finally:
            self.cookie = saved
        return status, text


def expected_hours(readings: list) -> dict:
    """Hour start -> (production Wh, peak W) from one inverter's (ts, power, energy) readings,
    as the reports compute it: the counter's gain inside each hour plus the step from the last
    value of the previous hour with data, when that hour is at most a day earlier."""
    hours = collections.defaultdict(list)
    for ts, power, energy in readings:
        hours[ts - ts % 3600].append((ts, power, energy))
    out, previous = {}, None
    for hour in sorted(hours):
        rows = sorted(hours[hour])
        first, last = rows[0][2], rows[-1][2]
        bridge = 0.0
        if previous is not None and hour - previous[0] <= MAX_COUNTER_GAP_S:
            bridge = first - previous[1] if first >= previous[1] else first
        out[hour] = (last - first + bridge, max(r[1] for r in rows))
        previous = (hour, last)
    return out


def check_reports(panels: dict, sites: list, stored: dict, figures: Figures) -> None:
    """`sites`: (provider, gateway, device). Each day a site's readings touch, compared hour by hour."""
    mismatches, compared_days, compared_hours = [], 0, 0
    for provider, gateway, device in sites:
        readings = [(ts, v["ac_power"], v["energy"]) for (p, g, d, ts), v in stored.items()
                    if (p, g, d) == (provider, gateway, device) and "energy" in v]
        if not readings:
            mismatches.append(f"{gateway}: no stored readings to compare")
            continue
        hours = expected_hours(readings)
        days = sorted({datetime.fromtimestamp(h, timezone.utc).date() for h in hours})
        for day in days:
            status, text = panels[provider].api(f"/api/v1/sites/{gateway}/day/{day.isoformat()}")
            if status != 200:
                mismatches.append(f"{gateway} {day}: API answered {status}: {text[:200]}")
                continue
            report = json.loads(text)
            compared_days += 1
            total = 0.0
            for bucket in report["buckets"]:
                start = int(datetime.fromisoformat(bucket["start"].replace("Z", "+00:00")).timestamp())
                want_wh, want_peak = hours.get(start, (0.0, None))
                got_wh = bucket["flows"]["production_wh"]
                got_peak = bucket["peak"]["watts"] if bucket.get("peak") else None
                total += want_wh
                compared_hours += 1
                if abs(got_wh - want_wh) > 1e-6 * max(1.0, abs(want_wh)):
                    mismatches.append(f"{gateway} {bucket['start']}: production {got_wh} Wh, ledger {want_wh} Wh")
                if start in hours and (got_peak is None or abs(got_peak - want_peak) > 1e-6 * max(1.0, want_peak)):
                    mismatches.append(f"{gateway} {bucket['start']}: peak {got_peak} W, ledger {want_peak} W")
            got_total = report["total"]["production_wh"]
            if abs(got_total - total) > 1e-6 * max(1.0, abs(total)):
                mismatches.append(f"{gateway} {day}: day production {got_total} Wh, ledger {total} Wh")
    figures.reports = (f"{len(sites)} sites, {compared_days} day reports, {compared_hours} hour buckets "
                       f"compared with the ledger: {len(mismatches)} differences")
    figures.check("report API equals the ledger's computation for the sampled sites", not mismatches,
                  _sample(mismatches))


# -- summaries at the SMTP sink ---------------------------------------------------------------


def mail_messages(directory: Path) -> list:
    """(Message-ID, recipients, subject) of every message the sink kept."""
    out = []
    parser = email.parser.BytesHeaderParser()
    for path in sorted(directory.glob("*.eml")):
        headers = parser.parsebytes(path.read_bytes())
        rcpt = path.with_suffix(".rcpt")
        out.append((headers.get("Message-ID", ""), rcpt.read_text() if rcpt.exists() else "", headers.get("Subject", "")))
    return out


def check_mail(messages: list, customers: int, figures: Figures) -> None:
    ids = collections.Counter(m[0] for m in messages)
    duplicates = [f"{i} ×{n}" for i, n in ids.items() if n > 1]
    per_customer = collections.Counter(rcpt for _, rcpt in {(m[0], m[1]) for m in messages})
    distinct = set(per_customer.values())
    figures.mail = (f"{len(messages)} messages, {len(ids)} distinct Message-IDs, {len(per_customer)} of {customers} "
                    f"customers, {'/'.join(map(str, sorted(distinct)))} summaries each")
    figures.check("no summary delivered twice (by Message-ID)", not duplicates, _sample(duplicates))
    figures.check("every customer got the same, non-zero number of summaries",
                  len(per_customer) == customers and len(distinct) == 1, figures.mail)


# -- refusals that cross tenants ----------------------------------------------------------------


def check_refusals(session, registry: str, dedicated: str, foreign_ids: set, figures: Figures) -> None:
    """Refusals recorded in the dedicated provider's namespace must all be of ids nobody else owns."""
    from cassandra import ConsistencyLevel, InvalidRequest
    from cassandra.query import SimpleStatement

    def rows(*queries):
        # The refusal tables as they are now (fixed slots), else as they were before.
        for query in queries:
            try:
                statement = SimpleStatement(query, fetch_size=5000, consistency_level=ConsistencyLevel.QUORUM)
                return list(session.execute(statement, timeout=120))
            except InvalidRequest:
                continue
        raise RuntimeError(f"none of these tables exists: {queries}")

    refused = rows(f"SELECT gateway FROM hg_{dedicated}.gateway_refusals",
                   f"SELECT gateway FROM hg_{dedicated}.refused_gateways")
    leaked = sorted(r[0] for r in refused if r[0] in foreign_ids)
    unclaimed = rows(f"SELECT gateway FROM {registry}.unclaimed_refusals",
                     f"SELECT gateway FROM {registry}.unclaimed_gateways")
    figures.refusals = (f"{len(unclaimed)} unknown ids recorded installation-wide, {len(refused)} in "
                        f"{dedicated}'s refusal list")
    figures.check("no provider's refusal list shows another provider's gateway ids", not leaked,
                  _sample([f"{g} (owned by another provider) in {dedicated}'s refusals" for g in leaked]))


# -- processes --------------------------------------------------------------------------------


def check_processes(processes: dict, bounds_mib: dict, figures: Figures) -> None:
    over, dead, crashed = [], [], []
    for name, process in processes.items():
        if name == "smtp":
            continue
        bound = bounds_mib[name.split("-")[0]]
        peak = process.peak_kib / 1024
        figures.memory[name] = (peak, bound)
        if peak > bound:
            over.append(f"{name} {peak:.0f} MiB > {bound} MiB")
        if not process.alive():
            dead.append(name)
        if process.crashes:
            crashed.append(f"{name} exited by itself with {process.crashes}")
    figures.check("every process alive at the end, none exited by itself", not dead and not crashed,
                  _sample(dead + crashed))
    figures.check("peak resident memory (VmHWM) of each process within its bound", not over, _sample(over))

