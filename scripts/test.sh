#!/usr/bin/env bash
# `npm test`: the whole suite. Unit tests, then integration tests against real Kafka and Postgres,
# which test/harness/global-setup.ts starts (scripts/infra.sh) unless KAFKA_BROKERS/DATABASE_URL are set.
# Extra arguments go to jest (e.g. `npm test -- --selectProjects unit`).
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
# promtool checks the shipped alert rules; test/schemathesis installs schemathesis into a venv
# (Debian ships the venv module apart from python3).
extra=(promtool:prometheus)
python3 -c 'import ensurepip, venv' 2>/dev/null || extra+=(python3-venv-module:python3-venv)
ensure_system_packages "${extra[@]}"
ensure_node_modules
exec npx jest --runInBand "$@"
