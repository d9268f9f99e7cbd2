#!/usr/bin/env bash
# The end-to-end benchmark: tessera's gateway against one plain MariaDB, side by side, with
# sysbench. Installs what is missing, builds a release binary, then runs scripts/bench.py.
# Usage: bash scripts/bench.sh [--quick] [--time S] [--threads 1,8,32] [--workloads a,b]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
cargo build --release --quiet --bin tessera
exec python3 scripts/bench.py "$@"
