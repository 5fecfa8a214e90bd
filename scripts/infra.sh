#!/usr/bin/env bash
# Local infrastructure without Docker: Apache Kafka (KRaft, from Maven Central jars) and
# PostgreSQL (initdb; data in .cache/run/pg, or as root under /var/lib/tributary, see pg_dir).
# Idempotent; waits until each part answers.
#   infra.sh up [--brokers 1|3] [--with-jaeger]
#                                 start what is not running, print the env to use
#   infra.sh down                 stop what this script started
#   infra.sh status               what is running
#   infra.sh env                  the env lines `up` prints, for what runs
#   infra.sh clean                down, then remove all state (data, logs, ports) of this run dir
#   infra.sh jars                 only fetch the Kafka jars (tests start private brokers with them)
# When KAFKA_BROKERS / DATABASE_URL / OTEL_EXPORTER_OTLP_ENDPOINT are set, that part is not
# started: the given one is used. Jaeger v2 is built from its Go module (cached in .cache/bin).
# Each run dir (by default one per checkout) has its own ports, so checkouts run side by side.
source "$(dirname "$0")/lib/common.sh"

KAFKA_HOME="$CACHE/kafka"
KAFKA_LIB="$KAFKA_HOME/lib"

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do "$@" && return 0; sleep 0.25; done
  die "$what did not come up within ${secs}s"
}

# Ports: a block of 200 per run dir at 20000 + 200*k (k < 60; below Linux's ephemeral range,
# 32768 and up, so no outgoing connection holds them), k from a hash of the run dir's path so a
# checkout keeps its ports from run to run, moved on to the next block when one of its ports is
# taken. Offsets: Kafka brokers +0..+2 and their controllers +100..+102 (the +100 rule also
# applies to TRIBUTARY_KAFKA_PORT), Postgres +10, Jaeger OTLP gRPC/HTTP +20/+21 and query
# HTTP/gRPC +22/+23, and `npm run dev`'s gateway, its ops port and the processor +30/+32/+31
# when 8080/9464/8081 are taken.
PORT_BLOCKS=60
block_ports() { local b=$1; echo $((b)) $((b + 1)) $((b + 2)) $((b + 100)) $((b + 101)) $((b + 102)) $((b + 10)) $((b + 20)) $((b + 21)) $((b + 22)) $((b + 23)); }
all_free() { local p; for p in "$@"; do ! port_open "$p" || return 1; done; }

set_block() {
  local b=$1
  KAFKA_PORT=$b PG_PORT=$((b + 10))
  JAEGER_OTLP_GRPC_PORT=$((b + 20)) JAEGER_OTLP_HTTP_PORT=$((b + 21)) JAEGER_QUERY_PORT=$((b + 22)) JAEGER_QUERY_GRPC_PORT=$((b + 23))
  DEV_GATEWAY_PORT=$((b + 30)) DEV_PROCESSOR_PORT=$((b + 31)) DEV_OPS_PORT=$((b + 32))
}

alive() { [ -f "$1" ] && kill -0 "$(head -1 "$1")" 2>/dev/null; }
# ($RUN/pg/postmaster.pid: through the symlink as root, see pg_dir.)
ours_running() {
  local f
  for f in "$RUN"/kafka-*/pid "$RUN/jaeger/pid" "$RUN/pg/postmaster.pid"; do alive "$f" && return 0; done
  return 1
}

# The ports of what runs: as recorded, or, for what an earlier version of this script started
# (no ports file), the fixed ports it used.
current_ports() {
  load_ports && return 0
  ours_running || return 1
  KAFKA_PORT=${TRIBUTARY_KAFKA_PORT:-19092} PG_PORT=${TRIBUTARY_PG_PORT:-15432}
  JAEGER_OTLP_GRPC_PORT=4317 JAEGER_OTLP_HTTP_PORT=4318 JAEGER_QUERY_PORT=16686 JAEGER_QUERY_GRPC_PORT=16685
  DEV_GATEWAY_PORT=8080 DEV_PROCESSOR_PORT=8081 DEV_OPS_PORT=9464
}

# Only `up` chooses: while anything of this run dir runs, its ports stay; otherwise the hash's
# block (or the next free one) is taken afresh, so a port another program took since is avoided.
choose_ports() {
  if ours_running; then
    current_ports
  else
    local k0 i b=""
    k0=$(( $(printf '%s' "$RUN" | cksum | cut -d' ' -f1) % PORT_BLOCKS ))
    for i in $(seq 0 $((PORT_BLOCKS - 1))); do
      b=$((20000 + 200 * ((k0 + i) % PORT_BLOCKS)))
      all_free $(block_ports "$b") && break
      b=""
    done
    [ -n "$b" ] || die "no block of free ports in 20000-31999; set TRIBUTARY_KAFKA_PORT and TRIBUTARY_PG_PORT"
    set_block "$b"
  fi
  KAFKA_PORT=${TRIBUTARY_KAFKA_PORT:-$KAFKA_PORT}
  PG_PORT=${TRIBUTARY_PG_PORT:-$PG_PORT}
  mkdir -p "$RUN"
  cat > "$PORTS_FILE.tmp" <<PORTS
# chosen by scripts/infra.sh up; read by status, down, dev.sh and the tests
KAFKA_PORT=$KAFKA_PORT
PG_PORT=$PG_PORT
JAEGER_OTLP_GRPC_PORT=$JAEGER_OTLP_GRPC_PORT
JAEGER_OTLP_HTTP_PORT=$JAEGER_OTLP_HTTP_PORT
JAEGER_QUERY_PORT=$JAEGER_QUERY_PORT
JAEGER_QUERY_GRPC_PORT=$JAEGER_QUERY_GRPC_PORT
DEV_GATEWAY_PORT=$DEV_GATEWAY_PORT
DEV_PROCESSOR_PORT=$DEV_PROCESSOR_PORT
DEV_OPS_PORT=$DEV_OPS_PORT
PORTS
  mv "$PORTS_FILE.tmp" "$PORTS_FILE"
}

fetch_kafka() {
  [ -f "$KAFKA_LIB/.complete" ] && return 0
  ensure_system_packages
  log "fetching Apache Kafka jars from Maven Central into $KAFKA_LIB"
  mkdir -p "$KAFKA_LIB"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIB" >&2
  touch "$KAFKA_LIB/.complete"
}

# Each cluster size keeps its own directories: a broker formatted for one cluster id cannot join another.
broker_dir() { echo "$RUN/kafka-c$1-$2"; }

broker_count_running() { local f c=0; for f in "$RUN"/kafka-*/pid; do [ -f "$f" ] && c=$((c + 1)); done; echo "$c"; }

kafka_up() {
  local n=$1
  fetch_kafka
  local running; running=$(broker_count_running)
  if [ "$running" -gt 0 ] && [ "$running" -ne "$n" ]; then
    log "a ${running}-broker cluster is running; stopping it to start $n broker(s)"
    kafka_down
  fi
  local voters="" i
  for i in $(seq 1 "$n"); do voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_PORT + 100 + i - 1))"; done
  local rf=$(( n >= 3 ? 3 : 1 )) isr=$(( n >= 3 ? 2 : 1 ))
  local cluster_file="$RUN/kafka-cluster-$n.id"
  mkdir -p "$RUN"
  [ -f "$cluster_file" ] || java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$cluster_file"
  local cluster_id; cluster_id=$(cat "$cluster_file")
  for i in $(seq 1 "$n"); do
    local dir; dir=$(broker_dir "$n" "$i")
    local port=$((KAFKA_PORT + i - 1)) cport=$((KAFKA_PORT + 100 + i - 1))
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then continue; fi
    mkdir -p "$dir"
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=12
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
    cat > "$dir/log4j2.properties" <<'L4J'
appender.file.type=File
appender.file.name=file
appender.file.fileName=${sys:kafka.logs.dir}/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
L4J
    if [ ! -f "$dir/data/meta.properties" ]; then
      java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
        || { cat "$dir/format.log" >&2; die "kafka storage format failed for broker $i"; }
    fi
    : > "$dir/server.log"
    nohup java -Xms256m -Xmx${TRIBUTARY_KAFKA_HEAP:-768m} -XX:+UseG1GC \
      -Dkafka.logs.dir="$dir" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
    echo $! > "$dir/pid"
    log "kafka broker $i starting on 127.0.0.1:$port"
  done
  for i in $(seq 1 "$n"); do
    wait_for 90 "kafka broker $i" grep -q 'Kafka Server started' "$(broker_dir "$n" "$i")/server.log"
  done
}

kafka_down() {
  local f
  for f in "$RUN"/kafka-*/pid; do
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

# initdb refuses to run as root: the cluster belongs to the postgres user then. From / because
# PostgreSQL's programs resolve their own path from the cwd, which postgres may not be able to read.
pg_as() { if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# The data directory. Run as the invoking user, it is $RUN/pg. As root, the server runs as
# postgres, who need not be able to traverse the checkout's path (a clone in /root, mode 0700), so
# it lives under /var/lib/tributary, one per run dir (named after the checkout and a hash of the
# run dir's path), and $RUN/pg is a symlink to it: down, status, clean and the tests find it there.
# A cluster an earlier version of this script made in $RUN/pg itself (it could reach it) is used as is.
PG_HOME_ROOT=/var/lib/tributary
pg_dir() {
  if ! is_root; then echo "$RUN/pg"
  elif [ -L "$RUN/pg" ]; then readlink "$RUN/pg"
  elif [ -f "$RUN/pg/PG_VERSION" ]; then echo "$RUN/pg"
  else
    local name; name=$(basename "$ROOT" | tr -c 'A-Za-z0-9._\n-' '_')
    echo "$PG_HOME_ROOT/$name-$(printf '%s' "$RUN" | sha256sum | cut -c1-12)/pg"
  fi
}

pg_up() {
  ensure_system_packages
  local bin; bin=$(pg_bindir) || die "PostgreSQL server binaries not found"
  local dir; dir=$(pg_dir)
  if is_root && ! id postgres >/dev/null 2>&1; then useradd --system --no-create-home postgres; fi
  mkdir -p "$RUN"
  if is_root && [ "$dir" != "$RUN/pg" ] && [ ! -L "$RUN/pg" ]; then
    # No link yet. A data directory already there belongs to a run dir that was removed since
    # (`rm -rf .cache/run` means "start from empty storage"): stop and drop it.
    if [ -e "$dir" ]; then
      log "removing the Postgres data of a removed run dir ($dir)"
      [ -f "$dir/PG_VERSION" ] && pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$dir"
    fi
    rm -rf "$RUN/pg" # what a failed initdb of an earlier version left
    mkdir -p "$(dirname "$dir")"
    ln -s "$dir" "$RUN/pg"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"; is_root && chown postgres "$dir"
    chmod 700 "$dir"
    pg_as "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/pg-initdb.log" 2>&1 \
      || { cat "$RUN/pg-initdb.log" >&2; die "initdb failed"; }
  fi
  if ! pg_as "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "postgres starting on 127.0.0.1:$PG_PORT (data in $dir)"
    # TCP only: no Unix socket, whose path (at most 107 bytes) a deep checkout path would overflow.
    pg_as "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=256MB" >/dev/null
  fi
  wait_for 30 "postgres" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE tributary LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='tributary') \gexec
SELECT 'CREATE DATABASE tributary OWNER tributary' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname='tributary') \gexec
SQL
}

pg_down() {
  local bin dir; dir=$(pg_dir); bin=$(pg_bindir) || return 0
  [ -f "$dir/PG_VERSION" ] || return 0
  pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# The env lines the harness and dev.sh take (global-setup.ts parses `export NAME=value`).
print_env() {
  echo "export KAFKA_BROKERS=${KAFKA_BROKERS:-$(kafka_brokers_list "${1:-1}")}"
  echo "export DATABASE_URL=${DATABASE_URL:-postgres://tributary@127.0.0.1:$PG_PORT/tributary}"
  if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
    echo "export OTEL_EXPORTER_OTLP_ENDPOINT=$OTEL_EXPORTER_OTLP_ENDPOINT"
    [ -z "${JAEGER_QUERY_URL:-}" ] || echo "export JAEGER_QUERY_URL=$JAEGER_QUERY_URL"
  elif alive "$RUN/jaeger/pid"; then
    echo "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
    echo "export JAEGER_QUERY_URL=http://127.0.0.1:$JAEGER_QUERY_PORT"
  fi
}
kafka_brokers_list() {
  local n=$1 i out=""
  for i in $(seq 1 "$n"); do out+="${out:+,}127.0.0.1:$((KAFKA_PORT + i - 1))"; done
  echo "$out"
}

# Jaeger v2 lives in the module's cmd/jaeger; its go.mod has replace directives, so `go install
# module@version` refuses it: build inside the downloaded module instead. The module has no /v2
# path, so the proxy serves Jaeger releases under their v1.x tags.
JAEGER_VERSION="${TRIBUTARY_JAEGER_MODULE_VERSION:-v1.76.0}"
JAEGER_BIN="$CACHE/bin/jaeger-$JAEGER_VERSION"

jaeger_build() {
  [ -x "$JAEGER_BIN" ] && return 0
  have go || die "Go (>= 1.24) is needed to build Jaeger: https://go.dev/dl/"
  log "building Jaeger ($JAEGER_VERSION) with go; a few minutes the first time"
  local src; src=$(GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).Dir))')
  local work="$CACHE/jaeger-src"
  rm -rf "$work"; cp -r "$src" "$work"; chmod -R u+w "$work"
  mkdir -p "$CACHE/bin"
  (cd "$work" && GOFLAGS=-mod=mod go build -o "$JAEGER_BIN.tmp" ./cmd/jaeger) >&2
  mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
  rm -rf "$work"
}

jaeger_up() {
  local dir="$RUN/jaeger"
  alive "$dir/pid" && return 0
  jaeger_build
  mkdir -p "$dir"
  # The all-in-one setup (in-memory storage, OTLP in, query API out) on this run dir's ports.
  # Without --config the binary listens on fixed ports (4317/4318, 16686/16685, and 5778, 8888,
  # 9411, 13133, 14250, 14268, 27777, 27778 for parts not used here), so a second one would not start.
  cat > "$dir/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$JAEGER_QUERY_GRPC_PORT
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$JAEGER_OTLP_GRPC_PORT
      http:
        endpoint: 127.0.0.1:$JAEGER_OTLP_HTTP_PORT
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
  nohup "$JAEGER_BIN" --config "$dir/config.yaml" >"$dir/jaeger.log" 2>&1 &
  echo $! > "$dir/pid"
  log "jaeger starting (OTLP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, query API http://127.0.0.1:$JAEGER_QUERY_PORT)"
  wait_for 60 "jaeger" jaeger_answers_or_died
  alive "$dir/pid" || { tail -20 "$dir/jaeger.log" >&2; die "jaeger exited; see $dir/jaeger.log"; }
}
jaeger_answers_or_died() { { port_open "$JAEGER_QUERY_PORT" && port_open "$JAEGER_OTLP_HTTP_PORT"; } || ! alive "$RUN/jaeger/pid"; }

jaeger_down() {
  local f="$RUN/jaeger/pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

# Everything of this run dir, the Postgres data outside it included (as root, see pg_dir).
clean() {
  kafka_down; pg_down; jaeger_down
  if [ -L "$RUN/pg" ]; then
    local dir; dir=$(readlink "$RUN/pg")
    rm -rf "$dir"
    rmdir "$(dirname "$dir")" 2>/dev/null || true
  fi
  rm -rf "$RUN"
}

cmd=${1:-status}; shift || true
brokers=1
jaeger=0
while [ $# -gt 0 ]; do
  case "$1" in
    --brokers) brokers=$2; shift 2 ;;
    --brokers=*) brokers=${1#*=}; shift ;;
    --with-jaeger) jaeger=1; shift ;;
    *) die "unknown option $1 (usage: infra.sh up|down|status [--brokers 1|3] [--with-jaeger])" ;;
  esac
done

print_ports() {
  log "ports of this checkout (kept in $PORTS_FILE): kafka $KAFKA_PORT (controller $((KAFKA_PORT + 100))), postgres $PG_PORT, jaeger OTLP $JAEGER_OTLP_GRPC_PORT/$JAEGER_OTLP_HTTP_PORT and query $JAEGER_QUERY_PORT (when started)"
}

case "$cmd" in
  up)
    choose_ports
    print_ports
    if [ -n "${KAFKA_BROKERS:-}" ]; then log "KAFKA_BROKERS is set: using $KAFKA_BROKERS, starting no Kafka"; else kafka_up "$brokers"; fi
    if [ -n "${DATABASE_URL:-}" ]; then log "DATABASE_URL is set: using it, starting no Postgres"; else pg_up; fi
    if [ "$jaeger" = 1 ]; then
      if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then log "OTEL_EXPORTER_OTLP_ENDPOINT is set: starting no Jaeger"; else jaeger_up; fi
    fi
    log "infrastructure is up; use:"
    print_env "$brokers"
    ;;
  down) kafka_down; pg_down; jaeger_down; log "infrastructure stopped" ;;
  clean) clean; log "infrastructure stopped, its state removed" ;;
  status)
    if ! current_ports; then echo "not started from this checkout ($RUN)"; exit 0; fi
    n=$(broker_count_running)
    for i in $(seq 1 "$n"); do
      p=$((KAFKA_PORT + i - 1))
      if alive "$(broker_dir "$n" "$i")/pid" && port_open "$p"; then echo "kafka-$i: up (127.0.0.1:$p)"; else echo "kafka-$i: down"; fi
    done
    [ "$n" -eq 0 ] && echo "kafka: not started"
    if alive "$(pg_dir)/postmaster.pid" && port_open "$PG_PORT"; then echo "postgres: up (127.0.0.1:$PG_PORT, data in $(pg_dir))"; else echo "postgres: down"; fi
    if alive "$RUN/jaeger/pid" && port_open "$JAEGER_QUERY_PORT"; then echo "jaeger: up (OTLP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, query http://127.0.0.1:$JAEGER_QUERY_PORT)"; else echo "jaeger: down"; fi
    ;;
  jars) fetch_kafka ;;
  env)
    current_ports || die "nothing started from this checkout ($RUN); run infra.sh up"
    print_env "$(( $(broker_count_running) > 0 ? $(broker_count_running) : 1 ))"
    ;;
  *) die "usage: infra.sh up|down|status|env|clean|jars [--brokers 1|3] [--with-jaeger]" ;;
esac
