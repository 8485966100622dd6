#!/usr/bin/env bash
# Runs real Apache Cassandra nodes for the test suite and the benchmarks, from jars that Maven
# resolves from Maven Central into a cache outside the repository (reused by later runs).
#
#   scripts/cassandra.sh fetch            resolve the jars (idempotent)
#   scripts/cassandra.sh start [N]        start N nodes (default 1) on 127.0.0.1..N, wait for CQL
#   scripts/cassandra.sh stop             stop every node this script started
#   scripts/cassandra.sh kill NODE        SIGKILL one node (fault tests)
#   scripts/cassandra.sh restart NODE     start one stopped/killed node again
#   scripts/cassandra.sh status           print the nodes and whether CQL answers
#   scripts/cassandra.sh nodetool NODE …  run nodetool against one node (describecluster, …)
#
# Environment: HELIOGRAPH_CACHE (default ~/.cache/heliograph), CASSANDRA_RUN_DIR (default
# $HELIOGRAPH_CACHE/cassandra-run), CASSANDRA_HEAP (default 1g), CASSANDRA_PORT (default 9042),
# CASSANDRA_STORAGE_PORT (default 7000) and CASSANDRA_JMX_PORT (default 7199; node N uses +N), so
# that two clusters (the test node and a three-node cluster, say) can run side by side.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$here/cassandra/pom.xml")
cache=${HELIOGRAPH_CACHE:-$HOME/.cache/heliograph}
lib="$cache/cassandra-$version/lib"
run=${CASSANDRA_RUN_DIR:-$cache/cassandra-run}
heap=${CASSANDRA_HEAP:-1g}
port=${CASSANDRA_PORT:-9042}
storage_port=${CASSANDRA_STORAGE_PORT:-7000}
jmx_port=${CASSANDRA_JMX_PORT:-7199}

log() { printf '[cassandra] %s\n' "$*" >&2; }

fetch() {
  if [[ -f "$lib/.complete" ]]; then return; fi
  log "resolving cassandra-all $version and its runtime dependencies from Maven Central"
  mkdir -p "$lib"
  mvn -q -B -f "$here/cassandra/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib"
  touch "$lib/.complete"
}

node_dir() { echo "$run/node$1"; }

# CASSANDRA_COMMITLOG_SYNC=group: a write is acknowledged only once its commit log entry is
# fsynced, so a SIGKILLed node loses none (the outage test's node); periodic (the default) can
# lose the last ~100 ms of acknowledged writes when the process dies.
commitlog_sync() {
  if [[ ${CASSANDRA_COMMITLOG_SYNC:-periodic} == group ]]; then
    printf 'commitlog_sync: group\ncommitlog_sync_group_window: 15ms\n'
  else
    printf 'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms\n'
  fi
}

write_config() {
  local n=$1 seeds=$2 dir
  dir=$(node_dir "$n")
  mkdir -p "$dir"/{data,commitlog,saved_caches,hints,cdc}
  cat > "$dir/cassandra.yaml" <<YAML
cluster_name: heliograph-test
num_tokens: 16
allocate_tokens_for_local_replication_factor: 3
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc
$(commitlog_sync)
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
listen_address: 127.0.0.$n
rpc_address: 127.0.0.$n
native_transport_port: $port
storage_port: $storage_port
endpoint_snitch: SimpleSnitch
start_native_transport: true
auto_snapshot: false
snapshot_before_compaction: false
concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 8
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
batch_size_warn_threshold: 64KiB
batch_size_fail_threshold: 1024KiB
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
dynamic_snitch: false
hinted_handoff_enabled: true
materialized_views_enabled: false
YAML
  cat > "$dir/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
}

# A lone node needs no gossip settling; a node joining others must hear from the seed before it
# picks its tokens, or it gives up with "Unable to contact any seeds".
ring_delay_ms() {
  if [[ $(cat "$run/nodes" 2>/dev/null || echo 1) -gt 1 ]]; then echo 5000; else echo 1000; fi
}

jvm_opts() {
  local n=$1 dir
  dir=$(node_dir "$n")
  cat <<OPTS
-Xms$heap
-Xmx$heap
-Xss512k
-XX:+UseG1GC
-XX:+ExitOnOutOfMemoryError
-Djdk.attach.allowAttachSelf=true
-Dcassandra.config=file://$dir/cassandra.yaml
-Dcassandra-foreground=yes
-Dcassandra.storagedir=$dir
-Dcassandra.jmx.local.port=$((jmx_port + n))
-Dcassandra.skip_wait_for_gossip_to_settle=0
-Dcassandra.ring_delay_ms=$(ring_delay_ms)
-Dcassandra.superuser_setup_delay_ms=0
-Dcassandra.initial_token_allocation_delay_ms=0
-Dlogback.configurationFile=file://$dir/logback.xml
-Dio.netty.tryReflectionSetAccessible=true
-javaagent:$(ls "$lib"/jamm-*.jar | head -n1)
--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports=java.sql/java.sql=ALL-UNNAMED
--add-exports=java.base/java.lang.ref=ALL-UNNAMED
--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens=java.base/java.lang.module=ALL-UNNAMED
--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens=java.base/jdk.internal.math=ALL-UNNAMED
--add-opens=java.base/jdk.internal.module=ALL-UNNAMED
--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED
--add-opens=java.base/java.io=ALL-UNNAMED
--add-opens=java.base/java.lang.reflect=ALL-UNNAMED
--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
--add-opens=java.base/java.lang=ALL-UNNAMED
--add-opens=java.base/java.util=ALL-UNNAMED
OPTS
}

cql_answers() {
  # The native protocol answers an OPTIONS frame with SUPPORTED; a bare TCP connect is not enough
  # because the port opens before the node can serve queries, so ask a real CQL question.
  python3 - "$1" "$port" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
def frame(opcode, body=b""):
    return struct.pack(">BBhBi", 0x04, 0, 1, opcode, len(body)) + body
def read(s):
    head = b""
    while len(head) < 9:
        chunk = s.recv(9 - len(head))
        if not chunk: raise SystemExit(1)
        head += chunk
    _, _, _, opcode, length = struct.unpack(">BBhBi", head)
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk: raise SystemExit(1)
        body += chunk
    return opcode, body
def string(v): return struct.pack(">H", len(v)) + v
try:
    s = socket.create_connection((host, port), timeout=3)
    s.sendall(frame(0x01, struct.pack(">H", 1) + string(b"CQL_VERSION") + string(b"3.0.0")))
    op, _ = read(s)
    if op != 0x02: raise SystemExit(1)  # READY
    q = b"SELECT release_version FROM system.local"
    s.sendall(frame(0x07, struct.pack(">i", len(q)) + q + struct.pack(">HB", 0x0001, 0)))
    op, _ = read(s)
    raise SystemExit(0 if op == 0x08 else 1)  # RESULT
except OSError:
    raise SystemExit(1)
PY
}

start_node() {
  local n=$1 seeds=$2 dir pid
  dir=$(node_dir "$n")
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "node $n already running (pid $(cat "$dir/pid"))"
    return
  fi
  [[ -f "$dir/cassandra.yaml" ]] || write_config "$n" "$seeds"
  mapfile -t opts < <(jvm_opts "$n")
  log "starting node $n on 127.0.0.$n:$port (logs: $dir/system.log)"
  # In a session of its own, as a service manager would run it: out of reach of the caller's
  # terminal signals and, where the kernel groups scheduling by session (autogroup), sharing
  # the CPU with everything else as one group rather than thread by thread. In the caller's
  # session its hundred-odd threads crowd out a process beside it with a few (scripts/
  # bench_notes.md). The script runs without job control, so `setsid` execs rather than forks
  # and `$!` is the node.
  setsid java "${opts[@]}" -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$dir/pid"
  local deadline=$((SECONDS + ${CASSANDRA_START_TIMEOUT:-240}))
  until cql_answers "127.0.0.$n"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "node $n exited during start-up; last lines of its logs:"
      tail -n 40 "$dir/stdout.log" "$dir/system.log" >&2 || true
      exit 1
    fi
    if (( SECONDS > deadline )); then
      log "node $n did not answer CQL in time"; tail -n 40 "$dir/system.log" >&2 || true; exit 1
    fi
    sleep 1
  done
  log "node $n answers CQL"
}

# nodetool talks JMX to the node's local port; the JVM needs the node's module openings, and
# its own logging kept to warnings on stderr so that the command's output is all on stdout.
nodetool() {
  local n=$1 opts
  shift
  mapfile -t opts < <(jvm_opts "$n" | grep -E '^--add-(exports|opens)=')
  cat > "$run/logback-tools.xml" <<XML
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
XML
  java "${opts[@]}" -Dlogback.configurationFile="file://$run/logback-tools.xml" -cp "$lib/*" \
    org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p $((jmx_port + n)) "$@"
}

start() {
  local count=${1:-1} seeds="127.0.0.1:$storage_port" n
  fetch
  # A fresh cluster every time: tests create keyspaces and must not see a previous run's data.
  stop >/dev/null 2>&1 || true
  rm -rf "$run"
  mkdir -p "$run"
  echo "$count" > "$run/nodes"
  for ((n = 1; n <= count; n++)); do
    start_node "$n" "$seeds"
  done
}

stop() {
  [[ -d "$run" ]] || return 0
  local dir pid
  for dir in "$run"/node[0-9]*; do
    [[ -f "$dir/pid" ]] || continue
    pid=$(cat "$dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $(basename "$dir") (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
  done
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-1}" ;;
  stop) stop ;;
  kill) dir=$(node_dir "$2"); kill -9 "$(cat "$dir/pid")"; rm -f "$dir/pid" ;;
  restart) start_node "$2" "127.0.0.1:$storage_port" ;;
  status)
    for dir in "$run"/node[0-9]*; do
      n=${dir##*node}
      if cql_answers "127.0.0.$n"; then echo "node $n up"; else echo "node $n down"; fi
    done ;;
  nodetool) shift; nodetool "$@" ;;
  *) sed -n "2,17p" "$0"; exit 2 ;;
esac
