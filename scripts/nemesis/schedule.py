"""The fault schedule: made in full from the seed before the run starts, so that the same seed
replays the same faults with the same targets and parameters in the same order.

Faults run in lanes, one fault at a time per lane; lanes run side by side. The Cassandra lane
keeps at most one node impaired at a time (RF 3 with LOCAL_QUORUM survives that), except for its
`spool_full` fault, which pauses two nodes on purpose so that the store is unavailable and the
ingest processes spool until the small spool of ingest B is full. A fault's `at` is the earliest
start (seconds from the start of the chaos); a lane starts its next fault only when the previous
one has healed, so a slow node restart shifts the lane's later faults but never reorders them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Each kind, its lane, and what it does (printed with the schedule).
KINDS = {
    "node_kill": ("cassandra", "SIGKILL a Cassandra node, restart it after a while"),
    "node_pause": ("cassandra", "SIGSTOP a Cassandra node, SIGCONT it after a while"),
    "spool_full": ("cassandra", "SIGSTOP two Cassandra nodes: no quorum, ingests spool, B's small spool fills"),
    "disk_full": ("cassandra", "fill a node's commit log disk (loop-mounted file system), then free it"),
    "ingest_kill": ("ingest", "SIGKILL an ingest process, restart it on the same spool after a while"),
    "ingest_pause": ("ingest", "SIGSTOP an ingest process, SIGCONT it after a while"),
    "mailer_kill": ("mailer", "SIGKILL a mailer, restart it after a while"),
    "clock_jump": ("clock", "a gateway's clock jumps: one document far in the past or the future"),
    "hostile_xml": ("attack", "hostile documents: nesting, bad UTF-8, DTDs, oversize, unknown roots"),
    "whitespace_flood": ("attack", "unauthenticated connections each sending 1 MiB of spaces, then idling"),
    "http_stall": ("attack", "half-sent HTTP request lines, and a 1 MiB POST with bad credentials"),
    "cross_hello": ("attack", "hellos with another provider's gateway ids on a dedicated port"),
    "unknown_ids": ("attack", "a flood of hellos with unknown gateway ids"),
}

LANES = ("cassandra", "ingest", "mailer", "clock", "attack")

# Clock offsets (seconds) a jumping gateway may use: days and years back, days ahead, and
# before 2000 (refused); each reading's expected fate is decided by the server's rules.
CLOCK_JUMPS = (-400 * 86400, -9 * 365 * 86400, -3 * 86400, 3 * 86400, 400 * 86400, -40 * 365 * 86400)


@dataclass
class Fault:
    """One planned fault."""

    lane: str
    kind: str
    at: float
    target: str = ""
    duration: float = 0.0
    params: dict = field(default_factory=dict)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        what = f"{self.kind:<16} {self.target:<12} for {self.duration:4.1f} s"
        return f"{self.at:7.1f} s  {self.lane:<9} {what} {extra}".rstrip()


@dataclass
class Plan:
    """Every lane's faults, in order."""

    seed: int
    seconds: float
    lanes: dict

    def faults(self) -> list:
        return sorted((f for lane in self.lanes.values() for f in lane), key=lambda f: (f.at, f.lane))

    def describe(self) -> str:
        lines = [f"fault schedule, seed {self.seed}, {self.seconds:.0f} s of chaos:"]
        lines += ["  " + f.describe() for f in self.faults()]
        return "\n".join(lines)


# How long each kind keeps its lane busy beyond its own duration, for planning only (a Cassandra
# node takes tens of seconds to start on two shared cores; the lane waits for the real restart).
RECOVERY_ESTIMATE = {"node_kill": 35.0, "disk_full": 45.0}


def plan(seed: int, seconds: float, nodes: int = 3, disk_full: bool = False, gateways: tuple = ()) -> Plan:
    """The schedule of a run of `seconds`: every kind a few times, more of each the longer it runs.

    `gateways` are the ids of the gateways whose clock may jump."""
    rng = random.Random(seed)
    short = seconds <= 300
    lanes = {}
    for lane in LANES:
        kinds = [k for k, (l, _) in KINDS.items() if l == lane and (k != "disk_full" or disk_full)]
        lanes[lane] = _lane(rng, lane, kinds, seconds, short, nodes, gateways)
    return Plan(seed, seconds, lanes)


def _lane(rng, lane, kinds, seconds, short, nodes, gateways) -> list:
    # Every kind at least `first` times, in a shuffled order, then random kinds until the end.
    first = {"cassandra": 1, "ingest": 2, "mailer": 2, "clock": 3, "attack": 1}[lane]
    queue = [k for k in kinds for _ in range(first)]
    if lane == "cassandra" and short:
        queue.append("node_pause")
    rng.shuffle(queue)
    for slow in ("node_kill", "disk_full"):
        # Those that restart a node are the slowest of all: first, while there is time for them.
        if lane == "cassandra" and slow in queue:
            queue.remove(slow)
            queue.insert(0, slow)
    gap = {"cassandra": (3, 8), "ingest": (3, 10), "mailer": (4, 20), "clock": (5, 25), "attack": (2, 8)}[lane]
    if not short:
        gap = (gap[0] * 3, gap[1] * 4)
    start = {"cassandra": 4.0, "ingest": 8.0, "mailer": 3.0, "clock": 10.0, "attack": 6.0}[lane]
    t = start + rng.uniform(0, 3)
    faults = []
    while t < seconds - 10:
        kind = queue.pop(0) if queue else rng.choice(kinds)
        fault = _fault(rng, lane, kind, t, short, nodes, gateways)
        if t + fault.duration + RECOVERY_ESTIMATE.get(kind, 0.0) > seconds + 10:
            continue  # would still be recovering long after the end: something shorter next
        faults.append(fault)
        t += fault.duration + RECOVERY_ESTIMATE.get(kind, 0.0) + rng.uniform(*gap)
    return faults


def _fault(rng, lane, kind, at, short, nodes, gateways) -> Fault:
    node = lambda: f"node{rng.randint(1, nodes)}"  # noqa: E731
    scale = 1.0 if short else 2.0
    if kind == "node_kill":
        return Fault(lane, kind, at, node(), round(rng.uniform(4, 10) * scale, 1))
    if kind == "node_pause":
        return Fault(lane, kind, at, node(), round(rng.uniform(4, 10) * scale, 1))
    if kind == "spool_full":
        kept = rng.randint(1, nodes)
        paused = [n for n in range(1, nodes + 1) if n != kept][:2]
        return Fault(lane, kind, at, "+".join(f"node{n}" for n in paused), round(rng.uniform(10, 16) * scale, 1))
    if kind == "disk_full":  # the last node's commit log is the one on a small file system
        return Fault(lane, kind, at, f"node{nodes}", round(rng.uniform(8, 15) * scale, 1))
    if kind in ("ingest_kill", "ingest_pause"):
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), round(rng.uniform(3, 10) * scale, 1))
    if kind == "mailer_kill":
        return Fault(lane, kind, at, rng.choice(["mailer-1", "mailer-2"]), round(rng.uniform(2, 8), 1))
    if kind == "clock_jump":
        target = rng.choice(list(gateways)) if gateways else "gateway"
        return Fault(lane, kind, at, target, 0.0, {"offset_s": rng.choice(CLOCK_JUMPS)})
    if kind == "hostile_xml":
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), 0.0, {"rounds": rng.randint(1, 3)})
    if kind == "whitespace_flood":
        count = rng.choice([150, 200, 250]) if short else rng.choice([200, 300, 400])
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), 15.0, {"connections": count})
    if kind == "http_stall":
        count = 100 if short else 200
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), 0.0, {"connections": count})
    if kind == "cross_hello":
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), 0.0, {"ids": rng.randint(2, 4)})
    if kind == "unknown_ids":
        count = 300 if short else 1000
        return Fault(lane, kind, at, rng.choice(["ingest-a", "ingest-b"]), 0.0, {"hellos": count})
    raise ValueError(f"unknown fault kind {kind}")
