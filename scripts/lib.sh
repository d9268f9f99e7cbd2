# Shared by scripts/up.sh and scripts/test.sh: install what a fresh Debian 12 machine lacks.

ensure_packages() {
  local need=()
  command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
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
