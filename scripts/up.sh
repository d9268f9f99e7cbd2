#!/usr/bin/env bash
# Sets up and runs the local cluster: installs nats-server and MariaDB if missing, builds
# tessera, and runs `tessera up` (NATS with JetStream + one node). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
cargo build --quiet --bin tessera
target="${CARGO_TARGET_DIR:-target}"
exec "$target/debug/tessera" up "$@"
