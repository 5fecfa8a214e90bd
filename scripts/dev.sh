#!/usr/bin/env bash
# `npm run dev [-- --with-jaeger]`: everything needed to run Tributary locally, then the gateway
# and the processor in the foreground (Ctrl-C stops them; `npm run infra:down` stops the rest).
# --with-jaeger also builds (once) and starts Jaeger and sends traces to it.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

ensure_system_packages
ensure_node_modules

# Kafka and Postgres: started here unless KAFKA_BROKERS / DATABASE_URL point elsewhere, on this
# checkout's ports (infra.sh prints the env to use and records the ports in $RUN/ports).
# (Assigned first: a failing `up` stops the script here; `eval "$(…)"` would hide its exit status.)
infra_env=$(bash scripts/infra.sh up "$@")
eval "$infra_env"
load_ports

log "building"
build_app
log "migrating"
node dist/migrations/run.js >&2

mkdir -p "$RUN/logs"
if [ -z "${TRIBUTARY_ADMIN_TOKEN:-}" ]; then
  [ -s "$RUN/admin-token" ] || node -e "process.stdout.write(require('crypto').randomBytes(24).toString('base64url'))" > "$RUN/admin-token"
  TRIBUTARY_ADMIN_TOKEN=$(cat "$RUN/admin-token")
  generated_token=1
fi
export TRIBUTARY_ADMIN_TOKEN
# 8080/9464/8081 as in the README, unless taken (another checkout's `npm run dev`): then this
# checkout's own ports, printed below.
free_or() { if port_open "$1"; then echo "$2"; else echo "$1"; fi; }
export PORT="${PORT:-$(free_or 8080 "$DEV_GATEWAY_PORT")}"
export OPS_PORT="${OPS_PORT:-$(free_or 9464 "$DEV_OPS_PORT")}"
export PROCESSOR_PORT="${PROCESSOR_PORT:-$(free_or 8081 "$DEV_PROCESSOR_PORT")}"
url="http://127.0.0.1:$PORT"

pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
  exit 0
}
trap stop INT TERM EXIT

node dist/apps/gateway/src/main.js > >(tee -a "$RUN/logs/gateway.log") 2>&1 &
pids+=($!)
node dist/apps/processor/src/main.js > >(tee -a "$RUN/logs/processor.log") 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
  curl -fs "$url/health/ready" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || die "the gateway exited; see $RUN/logs/gateway.log"
  sleep 0.5
done
curl -fs "$url/health/ready" >/dev/null || die "the gateway did not become ready; see $RUN/logs/gateway.log"

# A demo tenant and key, created once; the key is kept in .cache so later runs can print it.
demo_key_file="$RUN/demo-key"
admin=(-H "Authorization: Bearer $TRIBUTARY_ADMIN_TOKEN" -H 'content-type: application/json')
curl -s -o /dev/null -X POST "$url/v1/admin/tenants" "${admin[@]}" -d '{"id":"demo","name":"Demo tenant"}'
key=""
if [ -s "$demo_key_file" ]; then
  key=$(cat "$demo_key_file")
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/events?limit=1" -H "Authorization: Bearer $key")
  [ "$code" = 200 ] || key=""
fi
if [ -z "$key" ]; then
  key=$(curl -fs -X POST "$url/v1/admin/tenants/demo/keys" "${admin[@]}" -d '{"roles":["ingest","read"],"name":"demo"}' \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).key))')
  printf '%s' "$key" > "$demo_key_file"
fi

cat >&2 <<MSG

Tributary is running at $url  (API docs: $url/docs)
${generated_token:+Operator token (TRIBUTARY_ADMIN_TOKEN, generated and kept in $RUN/admin-token): $TRIBUTARY_ADMIN_TOKEN
}Demo tenant 'demo', API key (ingest, read): $key

Send an event, then read it back:
  curl -s -X POST $url/v1/events -H "Authorization: Bearer $key" -H 'content-type: application/json' \\
       -d '{"id":"order-1-created","type":"order.created","subject":"order-1","data":{"amount":42}}'
  curl -s $url/v1/events/order-1-created -H "Authorization: Bearer $key"

${OTEL_EXPORTER_OTLP_ENDPOINT:+Traces: sent to $OTEL_EXPORTER_OTLP_ENDPOINT${JAEGER_QUERY_URL:+; Jaeger query API $JAEGER_QUERY_URL (search service tributary-processor, tag tributary.event_id=<id>)}
}Kafka $KAFKA_BROKERS, Postgres $DATABASE_URL
Metrics: http://127.0.0.1:$OPS_PORT/metrics and http://127.0.0.1:$PROCESSOR_PORT/metrics
Logs: $RUN/logs/. Ctrl-C stops the apps; 'npm run infra:down' stops Kafka and Postgres.
MSG
wait -n "${pids[@]}"
die "an app exited; see $RUN/logs/"
