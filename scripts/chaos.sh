#!/usr/bin/env bash
# `npm run chaos [-- --events N] [--runs N] [--seed N]`: the chaos run (docs/guarantees.md). It starts its own
# three-broker Kafka cluster and Postgres with infra.sh (own directory and ports), kills and restarts
# them and the apps, then checks the event store against what the clients were answered.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
bash scripts/infra.sh jars
(npx tsc -p tsconfig.bench.json && npx tsc-alias -p tsconfig.bench.json) >&2
exec node dist/test/chaos/main.js "$@"
