#!/usr/bin/env bash
# Compares two builds of `heliograph` on the embedded store, the way the checkpoint changes in
# scripts/bench_notes.md were measured: each build gets a fresh store and an ingest process of
# its own, and their load runs alternate (A, B, A, B, ...) so that both see the machine's drift.
# Prints one line per run: run, build, readings/s, ack p50, p99 and max in ms; then the size of
# each store's write-ahead log file.
#
#   scripts/bench_ab.sh OLD_BINARY NEW_BINARY             # five full-load pairs
#   RUNS=7 DOCUMENTS=400 STEP=20 scripts/bench_ab.sh A B  # longer runs (STEP: days between runs)
#   PACE=27 scripts/bench_ab.sh A B                       # paced: ms between a gateway's documents
#
# A build is any `heliograph` binary, e.g. `cargo build --release` at two commits, copied aside.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
RUNS=${RUNS:-5}
GATEWAYS=${GATEWAYS:-64}
BATCH=${BATCH:-60}
DOCUMENTS=${DOCUMENTS:-100}
# Each run writes minutes STEP days further back than the one before, so runs never overwrite one
# another (a run spans DOCUMENTS * BATCH minutes per gateway).
STEP=${STEP:-10}
ulimit -n 20000 2>/dev/null || true

declare -A binary=([a]=$1 [b]=$2) port=() server=()
work=$(mktemp -d)
cleanup() {
  for name in a b; do [[ -n ${server[$name]:-} ]] && kill "${server[$name]}" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for name in a b; do
  port[$name]=$(free_port)
  cat > "$work/$name.toml" <<TOML
[store]
backend = "embedded"
data_dir = "$work/data-$name"
[ingest]
listen = "127.0.0.1:${port[$name]}"
http_listen = "127.0.0.1:$(free_port)"
[web]
listen = "127.0.0.1:$(free_port)"
[ops]
ingest = "127.0.0.1:0"
web = "127.0.0.1:0"
mailer = "127.0.0.1:0"
[log]
filter = "warn"
TOML
  "${binary[$name]}" -c "$work/$name.toml" provider add bench --name Bench >/dev/null
  "${binary[$name]}" -c "$work/$name.toml" load --provider bench --gateways "$GATEWAYS" --provision \
    --tokens "$work/tokens-$name" --documents 0 --target 127.0.0.1:1 >/dev/null 2>&1 || true
  "${binary[$name]}" -c "$work/$name.toml" ingest & server[$name]=$!
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"${port[$name]}") 2>/dev/null && break
    sleep 0.1
  done
done

for run in $(seq 1 "$RUNS"); do
  for name in a b; do
    "${binary[$name]}" -c "$work/$name.toml" load --provider bench --target "127.0.0.1:${port[$name]}" \
      --tokens "$work/tokens-$name" --gateways "$GATEWAYS" --batch "$BATCH" --documents "$DOCUMENTS" \
      --days-back $((60 + run * STEP)) --server-pid "${server[$name]}" --json \
      ${PACE:+--window 1 --pace-ms "$PACE"} |
      python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sys.argv[1], sys.argv[2], round(d["readings_per_second"]),
      *(round(d[k], 1) for k in ("ack_ms_p50", "ack_ms_p99", "ack_ms_max")))' "$run" "$name"
  done
done
for name in a b; do
  echo "log file $name: $(stat -c %s "$work/data-$name/providers/bench.db-wal" 2>/dev/null || echo 0) bytes"
done
