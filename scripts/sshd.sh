#!/usr/bin/env bash
# Start, stop or describe the OpenSSH server that Warden's SSH tests use:
# Debian's sshd with its own configuration, on 127.0.0.1 only, in a
# throw-away directory: an ed25519 host key with a host certificate (for
# host_ca pinning), a user CA whose public key is TrustedUserCAKeys (the
# only way to log in: no passwords, no authorized_keys), and two test
# users. sshd runs as root (it switches to the users), so start needs root.
#
#   scripts/sshd.sh start   # idempotent; prints the env file to source
#   scripts/sshd.sh stop
#   scripts/sshd.sh env     # print the variables tests read
set -euo pipefail

PORT="${WARDEN_TEST_SSH_PORT:-52222}"
ROOT="${WARDEN_TEST_DIR:-/tmp/warden-test}"
D="$ROOT/sshd"
ENVFILE="$ROOT/sshd.env"
USERS=(wardentest wardenops)
SSHD=/usr/sbin/sshd

running() { [[ -f "$D/sshd.pid" ]] && kill -0 "$(cat "$D/sshd.pid")" 2>/dev/null; }

case "${1:-}" in
start)
  if [[ "$(id -u)" != 0 ]]; then
    echo "sshd.sh: needs root (sshd switches to the test users; useradd)" >&2; exit 1
  fi
  if [[ ! -x "$SSHD" ]]; then
    echo "sshd.sh: installing openssh-server (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >&2; }
  fi
  for u in "${USERS[@]}"; do
    # '*' (not '!'): with UsePAM no, sshd refuses accounts locked with '!'.
    # bash: the dialect policy/cmdclass parses and re-quotes commands in.
    id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash -p '*' "$u"
    [[ "$(getent passwd "$u" | cut -d: -f7)" == /bin/bash ]] || usermod -s /bin/bash "$u"
  done
  mkdir -p "$ROOT" /run/sshd
  if ! running; then
    if [[ ! -f "$D/host_ed25519-cert.pub" ]]; then
      rm -rf "$D"; mkdir -p "$D"; chmod 700 "$D"
      ssh-keygen -q -t ed25519 -N '' -C warden-test-host -f "$D/host_ed25519"
      ssh-keygen -q -t ed25519 -N '' -C warden-test-host-ca -f "$D/host_ca"
      ssh-keygen -q -s "$D/host_ca" -I warden-test-host -h -n 127.0.0.1,localhost -V always:forever "$D/host_ed25519.pub"
      ssh-keygen -q -t ed25519 -N '' -C warden-test-user-ca -f "$D/user_ca"
      cp "$D/user_ca.pub" "$D/trusted_user_ca_keys"
    fi
    cat > "$D/sshd_config" <<EOC
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
HostCertificate $D/host_ed25519-cert.pub
PidFile $D/sshd.pid
TrustedUserCAKeys $D/trusted_user_ca_keys
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
PermitRootLogin no
# Forwarding is allowed here, so that refusing it is the certificate's doing.
AllowTcpForwarding yes
PermitTTY yes
MaxStartups 100:30:200
MaxSessions 10
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOC
    "$SSHD" -t -f "$D/sshd_config" || { echo "sshd.sh: bad sshd_config" >&2; exit 1; }
    "$SSHD" -f "$D/sshd_config" -E "$D/sshd.log"
    for _ in $(seq 50); do running && break; sleep 0.1; done
    running || { tail -20 "$D/sshd.log" >&2; exit 1; }
  fi
  hostkey="$(cut -d' ' -f1,2 "$D/host_ed25519.pub")"
  umask 077
  cat > "$ENVFILE" <<EOV
export WARDEN_TEST_SSH_ADDR=127.0.0.1:$PORT
export WARDEN_TEST_SSH_HOST_KEY='$hostkey'
export WARDEN_TEST_SSH_KNOWN_HOSTS='[127.0.0.1]:$PORT $hostkey'
export WARDEN_TEST_SSH_HOST_CA='$(cut -d' ' -f1,2 "$D/host_ca.pub")'
export WARDEN_TEST_SSH_CA_KEY_FILE=$D/user_ca
export WARDEN_TEST_SSH_USERS=$(IFS=,; echo "${USERS[*]}")
export WARDEN_TEST_SSH_LOG=$D/sshd.log
EOV
  echo "$ENVFILE"
  ;;
stop)
  if running; then kill "$(cat "$D/sshd.pid")"; fi
  ;;
env)
  [[ -f "$ENVFILE" ]] && cat "$ENVFILE"
  ;;
*)
  echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
