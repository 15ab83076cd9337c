# Shared by scripts/demo and scripts/bench: start the real parts a vegas run
# needs on this machine, and stop them again. Source it after setup.sh.
#
#   world_init                       a work dir ($WORK) and an EXIT trap that stops everything
#   world_start_pcscd                a private pcscd (own mount namespace, own vpcd ports)
#   world_start_card BIN FIXTURE     the virtual YubiKey in reader slot 0
#   world_start_sts BIN CONFIG       the strict local STS; sets STS_URL
#   world_home                       a throwaway HOME with AWS config and credentials files

WORLD_PIDS=()

world_stop() {
  local pid
  for pid in "${WORLD_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

world_init() {
  WORK="$(mktemp -d /tmp/vegas-world.XXXXXX)"
  trap world_stop EXIT
  trap 'exit 130' INT TERM
}

# world_wait WHAT COMMAND...: retry COMMAND for up to 15 s, else show the logs and fail.
world_wait() {
  local what="$1"; shift
  local tries=150
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    if [ "$tries" -eq 0 ]; then
      echo "$what did not come up; its logs:" >&2
      tail -n 20 "$WORK"/*.log >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

# Two consecutive free TCP ports: vpcd listens on one per reader slot.
world_free_port_pair() {
  "$VENV/bin/python" - <<'PY'
import random, socket
for _ in range(100):
    port = random.randrange(20000, 60000, 2)
    try:
        for p in (port, port + 1):
            with socket.socket() as s:
                s.bind(("0.0.0.0", p))
    except OSError:
        continue
    print(port)
    break
PY
}

# pcscd's socket path is fixed at build time, so it runs in a private mount
# namespace with a folder of ours bound over /run/pcscd; clients find it
# through PCSCLITE_CSOCK_NAME. The system's own pcscd, if any, is untouched.
world_start_pcscd() {
  VPCD_PORT="$(world_free_port_pair)"
  mkdir -p "$WORK/pcscd/run" "$WORK/pcscd/conf" /run/pcscd
  printf 'FRIENDLYNAME "Yubico YubiKey OTP+FIDO+CCID"\nDEVICENAME   /dev/null:0x%04X\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x%04X\n' \
    "$VPCD_PORT" "$VPCD_PORT" > "$WORK/pcscd/conf/vpcd"
  unshare -m --propagation private sh -c 'mount --bind "$1" /run/pcscd && exec pcscd --foreground -c "$2"' \
    sh "$WORK/pcscd/run" "$WORK/pcscd/conf" > "$WORK/pcscd.log" 2>&1 < /dev/null &
  WORLD_PIDS+=($!)
  export PCSCLITE_CSOCK_NAME="$WORK/pcscd/run/pcscd.comm"
  world_wait "pcscd" test -S "$PCSCLITE_CSOCK_NAME"
}

# world_start_card CARD_BIN FIXTURE VEGAS_BIN
world_start_card() {
  "$1" --port "$VPCD_PORT" --accounts "$2" --log "$WORK/card-events.txt" \
    > /dev/null 2> "$WORK/card.log" < /dev/null &
  WORLD_PIDS+=($!)
  world_wait "the virtual YubiKey" "$3" oath keys --json
}

# world_start_sts STS_BIN CONFIG: sets STS_URL.
world_start_sts() {
  "$1" --config "$2" > "$WORK/sts.url" 2> "$WORK/sts.log" < /dev/null &
  WORLD_PIDS+=($!)
  world_wait "the local STS" test -s "$WORK/sts.url"
  STS_URL="$(head -n 1 "$WORK/sts.url")"
}

# A throwaway HOME with empty AWS files and a private vegas cache. Call it
# after cargo, which needs the real HOME.
world_home() {
  export HOME="$WORK/home"
  export AWS_CONFIG_FILE="$HOME/.aws/config"
  export AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
  export VEGAS_CACHE_DIR="$WORK/vegas-cache"
  mkdir -p "$HOME/.aws"
}
