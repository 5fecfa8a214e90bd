#!/usr/bin/env bash
# Fetches Kafka Connect (standalone worker) and the Debezium JDBC sink, the peer of the processor
# in `npm run bench` (scenario process-vs-connect), from Maven Central into $CACHE/connect
# (worker/ and plugins/debezium-jdbc/), once; run by bench.sh and the bench smoke test.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
CONNECT="$CACHE/connect"
[ -f "$CONNECT/.complete" ] && exit 0
rm -rf "$CONNECT/worker" "$CONNECT/plugins"
mkdir -p "$CONNECT/worker" "$CONNECT/plugins/debezium-jdbc"
# -U: otherwise Maven replays a cached "not found" instead of asking Maven Central again.
if ! mvn -U -q -B -f scripts/connect/worker-pom.xml dependency:copy-dependencies -DoutputDirectory="$CONNECT/worker" >"$CONNECT/fetch.log" 2>&1 ||
   ! mvn -U -q -B -f scripts/connect/plugin-pom.xml dependency:copy-dependencies -DoutputDirectory="$CONNECT/plugins/debezium-jdbc" >>"$CONNECT/fetch.log" 2>&1; then
  die "could not fetch Kafka Connect / the Debezium JDBC sink from Maven Central (see $CONNECT/fetch.log)"
fi
# The plugin folder must not hold jars the worker already has (Jackson, kafka-clients, connect-api):
# plugin scanning fails on the duplicate Jackson. Same artifact, any version: the file name up to
# its version ("jackson-core-2.21.2.jar" -> "jackson-core").
artifact() { sed -E 's/-[0-9].*\.jar$//'; }
worker_has="$(ls "$CONNECT/worker" | artifact)"
for jar in "$CONNECT"/plugins/debezium-jdbc/*.jar; do
  if grep -qxF "$(basename "$jar" | artifact)" <<<"$worker_has"; then rm -f "$jar"; fi
done
touch "$CONNECT/.complete"
