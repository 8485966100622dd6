#!/usr/bin/env bash
# A nemesis run: the whole system on a three-node Cassandra cluster (RF 3, LOCAL_QUORUM) under
# honest load, random faults from a seeded schedule and attacks in bursts; then every fault is
# healed and every acknowledged reading is checked against what the store holds. Exits non-zero
# on a failed verdict. See scripts/nemesis/main.py for what runs and RELIABILITY.md for results.
#
#   scripts/nemesis.sh                      the short run: 2 minutes, seed 36
#   scripts/nemesis.sh --minutes 30         the long run: a fresh seed, regenerates RELIABILITY.md
#   scripts/nemesis.sh --seed N [...]       replays seed N's schedule
#   scripts/nemesis.sh --plan-only [...]    prints the schedule and stops
#
# The cluster: the one named by HELIOGRAPH_CLUSTER_RUN_DIR, HELIOGRAPH_CASSANDRA_CLUSTER
# (127.0.0.1:PORT,…), HELIOGRAPH_CLUSTER_STORAGE_PORT, HELIOGRAPH_CLUSTER_JMX_PORT and
# HELIOGRAPH_CLUSTER_HEAP when set (scripts/test.sh sets them for its own cluster); otherwise a
# cluster of its own on ports 9053/7050/7500, started here and stopped at the end.
# The binary: --binary PATH, else $CARGO_TARGET_DIR/release/heliograph (default ./target; built here
# with cargo if needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export HELIOGRAPH_CACHE=${HELIOGRAPH_CACHE:-$HOME/.cache/heliograph}
venv="$HELIOGRAPH_CACHE/venv"
[[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/nemesis/requirements.txt

args=("$@")
minutes=2 plan_only=0 binary="" report_set=0
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --minutes) minutes=${args[i + 1]} ;;
    --plan-only) plan_only=1 ;;
    --binary) binary=${args[i + 1]} ;;
    --report) report_set=1 ;;
  esac
done
extra=()
# The long run regenerates RELIABILITY.md unless told where else to write.
if [[ $report_set == 0 ]] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 5 else 1)" "$minutes"; then
  extra+=(--report RELIABILITY.md)
fi
if [[ -z $binary && $plan_only == 0 ]]; then
  nice -n 10 cargo build --release --locked --bin heliograph
  extra+=(--binary "${CARGO_TARGET_DIR:-target}/release/heliograph")
fi

if [[ -n ${HELIOGRAPH_CLUSTER_RUN_DIR:-} ]]; then
  port=${HELIOGRAPH_CASSANDRA_CLUSTER%%,*}; port=${port##*:}
  cluster=(--cassandra-run-dir "$HELIOGRAPH_CLUSTER_RUN_DIR" --cassandra-port "$port"
    --storage-port "$HELIOGRAPH_CLUSTER_STORAGE_PORT" --jmx-port "$HELIOGRAPH_CLUSTER_JMX_PORT"
    --cassandra-heap "${HELIOGRAPH_CLUSTER_HEAP:-768m}")
else
  own=(env CASSANDRA_RUN_DIR="$HELIOGRAPH_CACHE/cassandra-nemesis" CASSANDRA_PORT=9053
    CASSANDRA_STORAGE_PORT=7050 CASSANDRA_JMX_PORT=7500 CASSANDRA_HEAP=512m CASSANDRA_COMMITLOG_SYNC=group)
  cluster=(--cassandra-run-dir "$HELIOGRAPH_CACHE/cassandra-nemesis" --cassandra-port 9053
    --storage-port 7050 --jmx-port 7500 --cassandra-heap 512m)
  if [[ $plan_only == 0 ]]; then
    trap '"${own[@]}" scripts/cassandra.sh stop || true' EXIT
    "${own[@]}" scripts/cassandra.sh start 3
  fi
fi

"$venv/bin/python" scripts/nemesis/main.py "${cluster[@]}" "${extra[@]}" "$@"
