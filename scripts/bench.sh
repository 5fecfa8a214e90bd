#!/usr/bin/env bash
# `npm run bench [-- --json] [--scenario NAME[,NAME]] [--runs N] [--events N]`: benchmarks against
# references measured in the same run (never part of `npm test`). Starts Kafka and Postgres unless given.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
# With Jaeger: every event is traced (the default), so the figures include exporting its spans.
eval "$(bash scripts/infra.sh up --with-jaeger)"
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
# Kafka Connect (standalone worker) and the Debezium JDBC sink, the process-vs-connect peer, from
# Maven Central (scripts/connect/*-pom.xml). The plugin folder must not hold jars the worker already
# has (Jackson, kafka-clients, connect-api): plugin scanning fails on the duplicates.
CONNECT="$CACHE/connect"
if [ ! -f "$CONNECT/.complete" ]; then
  rm -rf "$CONNECT/worker" "$CONNECT/plugins"
  mkdir -p "$CONNECT/worker" "$CONNECT/plugins/debezium-jdbc"
  if mvn -U -q -B -f scripts/connect/worker-pom.xml dependency:copy-dependencies -DoutputDirectory="$CONNECT/worker" >"$CONNECT/fetch.log" 2>&1 &&
     mvn -U -q -B -f scripts/connect/plugin-pom.xml dependency:copy-dependencies -DoutputDirectory="$CONNECT/plugins/debezium-jdbc" >>"$CONNECT/fetch.log" 2>&1; then
    # Same artifact, any version: the name up to its version ("jackson-core-2.21.2.jar" -> "jackson-core").
    artifacts() { ls "$1" | sed -E 's/-[0-9].*\.jar$//'; }
    for jar in "$CONNECT"/plugins/debezium-jdbc/*.jar; do
      if artifacts "$CONNECT/worker" | grep -qxF "$(basename "$jar" | sed -E 's/-[0-9].*\.jar$//')"; then rm -f "$jar"; fi
    done
    touch "$CONNECT/.complete"
  else
    echo "[bench] could not fetch Kafka Connect / the Debezium JDBC sink (see $CONNECT/fetch.log); process-vs-connect will fail" >&2
  fi
fi
(npx tsc -p tsconfig.bench.json && npx tsc-alias -p tsconfig.bench.json) >&2
exec node dist/bench/run.js "$@"
