#!/usr/bin/env bash
# The end-to-end benchmark: tessera's gateway against one plain MariaDB and against MariaDB's
# Spider engine over the same two backends, side by side, with sysbench. Installs what is
# missing, builds a release binary, then runs scripts/bench.py.
# Usage: bash scripts/bench.sh [--quick] [--time S] [--threads 1,8,32] [--workloads a,b]
#        [--nats-server PATH] [--no-spider]
# Both NATS servers: bash scripts/bench.sh ... ; bash scripts/bench.sh --nats-server "$(source
# scripts/lib.sh; current_nats_server)" ...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
if ! [ -e /usr/lib/mysql/plugin/ha_spider.so ]; then
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-plugin-spider >/dev/null
fi
cargo build --release --quiet --bin tessera
exec python3 scripts/bench.py "$@"
