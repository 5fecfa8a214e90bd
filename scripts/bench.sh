#!/usr/bin/env bash
# `npm run bench [-- --json] [--scenario NAME] [--runs N] [--events N]`: benchmarks against references
# measured in the same run (never part of `npm test`). Starts Kafka and Postgres unless given.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
eval "$(bash scripts/infra.sh up)"
(npx tsc -p tsconfig.bench.json && npx tsc-alias -p tsconfig.bench.json) >&2
exec node dist/bench/run.js "$@"
