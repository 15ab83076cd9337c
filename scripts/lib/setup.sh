# Shared by scripts/test, scripts/demo and scripts/bench: install what vegas's
# real parts need on a Debian machine, idempotently, and set up the
# environment. Source it; do not run it.

set -euo pipefail

VEGAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$VEGAS_ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian packages: the PC/SC daemon, the virtual reader driver, the headers the
# pcsc crate builds against, and the tools the benchmarks and tests use.
APT_PACKAGES=(libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools pkg-config hyperfine tmux time util-linux man-db)

# apt-get install PACKAGES, as root or through sudo.
apt_install() {
  say "installing Debian packages: $*"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

install_debian_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  # pcscd's own directory: each test bind-mounts a private one over it.
  [ -d /run/pcscd ] || { [ "$(id -u)" -eq 0 ] && mkdir -p /run/pcscd || sudo mkdir -p /run/pcscd; }
}

# Node.js and npm for the JavaScript consumer test, from Debian like the rest,
# only when npm is missing: a Node.js installed another way (NodeSource's
# carries its own npm, and conflicts with Debian's) is left alone. The pinned
# SDK declares node >= 20 but runs on Debian 12's Node.js 18 (consumer.mjs,
# both providers, checked against examples/local-sts); npm ci only warns.
NODE_MIN_MAJOR=18

install_node() {
  command -v npm >/dev/null || apt_install nodejs npm
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt "$NODE_MIN_MAJOR" ]; then
    say "Node.js $(node --version) is too old for the AWS SDK for JavaScript: install Node.js $NODE_MIN_MAJOR or later"
    return 1
  fi
}

# A virtualenv with the pinned Python peers: ykman, the AWS CLI, boto3, moto.
install_python_tools() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$VEGAS_ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  say "creating $VENV with the pinned Python tools"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$VEGAS_ROOT/scripts/requirements.txt"
  echo "$want" > "$stamp"
}

# The AWS SDK for JavaScript v3 for the consumer test (tests/js-consumer),
# exactly as package-lock.json pins it.
install_js_consumer() {
  local dir="$VEGAS_ROOT/tests/js-consumer"
  local stamp="$dir/node_modules/.package-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return
  say "installing the AWS SDK for JavaScript (npm ci in tests/js-consumer)"
  (cd "$dir" && npm ci --no-audit --no-fund --silent)
  echo "$want" > "$stamp"
}

# Never let the caller's AWS settings leak into a test or the demo.
clear_aws_env() {
  local v
  for v in $(env | grep -o '^AWS_[A-Za-z0-9_]*' || true); do unset "$v"; done
}

setup_all() {
  install_debian_packages
  install_python_tools
  install_node
  install_js_consumer
  export PATH="$VENV/bin:$PATH"
  export VEGAS_YKMAN="$VENV/bin/ykman"
  export VEGAS_PYTHON="$VENV/bin/python"
  clear_aws_env
}
