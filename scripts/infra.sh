#!/usr/bin/env bash
# Local infrastructure without Docker: Apache Kafka (KRaft, from Maven Central jars) and
# PostgreSQL (initdb into .cache/run/pg). Idempotent; waits until each part answers.
#   infra.sh up [--brokers 1|3] [--with-jaeger]
#                                 start what is not running, print the env to use
#   infra.sh down                 stop what this script started
#   infra.sh status               what is running
#   infra.sh jars                 only fetch the Kafka jars (tests start private brokers with them)
# When KAFKA_BROKERS / DATABASE_URL / OTEL_EXPORTER_OTLP_ENDPOINT are set, that part is not
# started: the given one is used. Jaeger v2 is built from its Go module (cached in .cache/bin).
source "$(dirname "$0")/lib/common.sh"

KAFKA_HOME="$CACHE/kafka"
KAFKA_LIB="$KAFKA_HOME/lib"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do "$@" && return 0; sleep 0.25; done
  die "$what did not come up within ${secs}s"
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
  for i in $(seq 1 "$n"); do voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_PORT_BASE + 100 + i - 1))"; done
  local rf=$(( n >= 3 ? 3 : 1 )) isr=$(( n >= 3 ? 2 : 1 ))
  local cluster_file="$RUN/kafka-cluster-$n.id"
  mkdir -p "$RUN"
  [ -f "$cluster_file" ] || java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$cluster_file"
  local cluster_id; cluster_id=$(cat "$cluster_file")
  for i in $(seq 1 "$n"); do
    local dir; dir=$(broker_dir "$n" "$i")
    local port=$((KAFKA_PORT_BASE + i - 1)) cport=$((KAFKA_PORT_BASE + 100 + i - 1))
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

# initdb refuses to run as root: the cluster belongs to the postgres user then.
pg_as() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_up() {
  ensure_system_packages
  local bin; bin=$(pg_bindir) || die "PostgreSQL server binaries not found"
  local dir="$RUN/pg"
  if is_root && ! id postgres >/dev/null 2>&1; then useradd --system --no-create-home postgres; fi
  mkdir -p "$RUN"
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"; is_root && chown postgres "$dir"
    chmod 700 "$dir"
    pg_as "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/pg-initdb.log" 2>&1 \
      || { cat "$RUN/pg-initdb.log" >&2; die "initdb failed"; }
  fi
  if ! pg_as "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "postgres starting on 127.0.0.1:$PG_PORT"
    pg_as "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200 -c shared_buffers=256MB" >/dev/null
  fi
  wait_for 30 "postgres" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE tributary LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='tributary') \gexec
SELECT 'CREATE DATABASE tributary OWNER tributary' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname='tributary') \gexec
SQL
}

pg_down() {
  local bin dir="$RUN/pg"; bin=$(pg_bindir) || return 0
  [ -f "$dir/PG_VERSION" ] || return 0
  pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

print_env() {
  echo "export KAFKA_BROKERS=${KAFKA_BROKERS:-$(kafka_brokers_list "${1:-1}")}"
  echo "export DATABASE_URL=${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
}
kafka_brokers_list() {
  local n=$1 i out=""
  for i in $(seq 1 "$n"); do out+="${out:+,}127.0.0.1:$((KAFKA_PORT_BASE + i - 1))"; done
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
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  jaeger_build
  mkdir -p "$dir"
  # No --config: the all-in-one default, in-memory storage, OTLP on 4317/4318, query on 16686.
  nohup "$JAEGER_BIN" >"$dir/jaeger.log" 2>&1 &
  echo $! > "$dir/pid"
  log "jaeger starting (query API http://127.0.0.1:16686)"
  wait_for 60 "jaeger" port_open 16686
  wait_for 30 "jaeger OTLP" port_open 4318
}

jaeger_down() {
  local f="$RUN/jaeger/pid"
  [ -f "$f" ] || return 0
  kill "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
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

case "$cmd" in
  up)
    if [ -n "${KAFKA_BROKERS:-}" ]; then log "KAFKA_BROKERS is set: using $KAFKA_BROKERS, starting no Kafka"; else kafka_up "$brokers"; fi
    if [ -n "${DATABASE_URL:-}" ]; then log "DATABASE_URL is set: using it, starting no Postgres"; else pg_up; fi
    if [ "$jaeger" = 1 ]; then
      if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then log "OTEL_EXPORTER_OTLP_ENDPOINT is set: starting no Jaeger"; else jaeger_up; fi
    fi
    log "infrastructure is up; use:"
    print_env "$brokers"
    if [ "$jaeger" = 1 ] || [ -f "$RUN/jaeger/pid" ]; then echo "export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}"; fi
    ;;
  down) kafka_down; pg_down; jaeger_down; log "infrastructure stopped" ;;
  status)
    n=$(broker_count_running)
    for i in $(seq 1 "$n"); do
      p=$((KAFKA_PORT_BASE + i - 1))
      if port_open "$p"; then echo "kafka-$i: up (127.0.0.1:$p)"; else echo "kafka-$i: down"; fi
    done
    [ "$n" -eq 0 ] && echo "kafka: not started"
    if port_open "$PG_PORT"; then echo "postgres: up (127.0.0.1:$PG_PORT)"; else echo "postgres: down"; fi
    if port_open 16686; then echo "jaeger: up (http://127.0.0.1:16686)"; else echo "jaeger: down"; fi
    ;;
  jars) fetch_kafka ;;
  env) print_env "$(( $(broker_count_running) > 0 ? $(broker_count_running) : 1 ))" ;;
  *) die "usage: infra.sh up|down|status [--brokers 1|3]" ;;
esac
