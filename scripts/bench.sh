#!/usr/bin/env bash
# `npm run bench [-- --json] [--scenario NAME[,NAME]] [--runs N] [--events N]`: benchmarks against
# references measured in the same run (never part of `npm test`). Starts Kafka and Postgres unless given.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
# With Jaeger: every event is traced (the default), so the figures include exporting its spans.
# (Assigned first: a failing `up` stops the script here; `eval "$(…)"` would hide its exit status.)
infra_env=$(bash scripts/infra.sh up --with-jaeger)
eval "$infra_env"
# The Strimzi Kafka Bridge, the ingest-batch peer, from Maven Central; the scenario skips it (and
# says so) when it cannot be fetched.
BRIDGE_LIB="$ROOT/.cache/bridge/lib"
if [ ! -f "$BRIDGE_LIB/.complete" ]; then
  mkdir -p "$BRIDGE_LIB"
  # -U: otherwise Maven replays its cached "not found" instead of asking Maven Central again.
  if mvn -U -q -B -f scripts/kafka/bridge-pom.xml dependency:copy-dependencies -DoutputDirectory="$BRIDGE_LIB" >"$ROOT/.cache/bridge/fetch.log" 2>&1; then
    touch "$BRIDGE_LIB/.complete"
  else
    echo "[bench] could not fetch the Strimzi Kafka Bridge (see .cache/bridge/fetch.log); ingest-batch runs without its peer" >&2
  fi
fi
# Kafka Connect and the Debezium JDBC sink, the process-vs-connect peer; without them that scenario
# fails with the reason.
bash scripts/connect/fetch.sh || true
(npx tsc -p tsconfig.bench.json && npx tsc-alias -p tsconfig.bench.json) >&2
exec node dist/bench/run.js "$@"
