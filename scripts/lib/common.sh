# Shared helpers for the project's scripts. Sourced, never run.
# Invariant: everything the scripts download or start lives under $CACHE (git-ignored).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TRIBUTARY_CACHE:-$ROOT/.cache}"
# State of what the scripts start (chaos runs use their own). Absolute: its path is hashed into
# the ports and the Postgres location (scripts/infra.sh), which must not depend on the cwd.
RUN="$(realpath -m "${TRIBUTARY_RUN:-$CACHE/run}")"
# The ports infra.sh chose for this run dir (shell assignments), so status, down, dev and the
# tests agree with the `up` that chose them.
PORTS_FILE="$RUN/ports"

log() { printf '[tributary] %s\n' "$*" >&2; }
die() { printf '[tributary] error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The ports of this run dir as infra.sh up recorded them; TRIBUTARY_KAFKA_PORT / TRIBUTARY_PG_PORT
# win. Returns 1 when `up` never ran here (nothing to find).
load_ports() {
  [ -f "$PORTS_FILE" ] || return 1
  # shellcheck disable=SC1090
  source "$PORTS_FILE"
  DEV_OPS_PORT=${DEV_OPS_PORT:-$((DEV_GATEWAY_PORT + 2))} # a file written before the gateway had its ops port
  KAFKA_PORT=${TRIBUTARY_KAFKA_PORT:-$KAFKA_PORT}
  PG_PORT=${TRIBUTARY_PG_PORT:-$PG_PORT}
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  have pg_config && [ -x "$(pg_config --bindir)/initdb" ] && { pg_config --bindir; return 0; }
  return 1
}

# Debian package names for what is missing; empty when all is there. Extra arguments are
# COMMAND:PACKAGE pairs needed only by the caller (e.g. promtool:prometheus for the tests).
missing_packages() {
  local need=() pair
  for pair in "$@"; do have "${pair%%:*}" || need+=("${pair##*:}"); done
  have java || need+=(openjdk-17-jre-headless)
  have mvn || need+=(maven)
  pg_bindir >/dev/null || need+=(postgresql)
  have psql || need+=(postgresql-client)
  have make && have g++ || need+=(build-essential)
  have python3 || need+=(python3)
  for h in /usr/include/openssl/ssl.h:libssl-dev /usr/include/zlib.h:zlib1g-dev \
           /usr/include/zstd.h:libzstd-dev /usr/include/sasl/sasl.h:libsasl2-dev; do
    [ -e "${h%%:*}" ] || need+=("${h##*:}")
  done
  echo "${need[@]:-}"
}

ensure_system_packages() {
  local need; need="$(missing_packages "$@")"
  [ -z "$need" ] && return 0
  if is_root && have apt-get; then
    log "installing system packages: $need"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  else
    die "missing system packages; install them first: sudo apt-get install $need"
  fi
}

ensure_node_modules() {
  have node || die "Node.js >= 20.19 is required (https://nodejs.org or your distribution's nodejs package)"
  if [ ! -d "$ROOT/node_modules/@confluentinc/kafka-javascript/build/Release" ]; then
    ensure_system_packages
    log "installing npm dependencies (builds librdkafka from source; a few minutes the first time)"
    # The client's default build downloads OpenSSL/zlib sources; link the system ones instead.
    # Where the distribution ships Node's headers, node-gyp needs no download either.
    [ -f /usr/include/node/node.h ] && export npm_config_nodedir="${npm_config_nodedir:-/usr}"
    (cd "$ROOT" && CKJS_LINKING=dynamic npm ci --no-audit --no-fund >&2)
  fi
}

build_app() {
  (cd "$ROOT" && npx tsc -p tsconfig.build.json && npx tsc-alias -p tsconfig.build.json) >&2
}
