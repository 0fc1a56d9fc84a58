#!/usr/bin/env bash
# Build (once, cached by version outside the repository), start, stop or
# describe the real Kubernetes API server Warden's Kubernetes tests use:
# etcd, kube-apiserver and kube-controller-manager (the controllers that
# aggregate ClusterRoles, mint ServiceAccount tokens' root CA, delete
# namespaces and collect garbage) on 127.0.0.1 only, and kwok
# (sigs.k8s.io/kwok) as the kubelet of one node, kwok-0: pods bound to it
# (spec.nodeName: kwok-0; there is no scheduler) become Running, and their
# logs, exec and port-forward are served by kwok from what the kwok.x-k8s.io
# Logs, Exec and PortForward objects a test creates say (a local file, a
# local command, a local address).
#
#   scripts/kube.sh build   # build the binaries if missing (~17 min cold on 2 cores)
#   scripts/kube.sh start   # idempotent; builds first if needed; prints the env file to source
#   scripts/kube.sh stop
#   scripts/kube.sh env
#
# KUBE_VERSION picks the release (default below); WARDEN_CACHE the cache
# (default ~/.cache/warden); WARDEN_TEST_DIR the run directory.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING_VERSION="v0${KUBE_VERSION#v1}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
KWOK_BIN="${WARDEN_CACHE:-$HOME/.cache/warden}/kwok-$KWOK_VERSION/bin"
CACHE="${WARDEN_CACHE:-$HOME/.cache/warden}/kube-$KUBE_VERSION"
BIN="$CACHE/bin"
ROOT="${WARDEN_TEST_DIR:-/tmp/warden-test}"
D="$ROOT/kube"
ENVFILE="$ROOT/kube.env"
ETCD_PORT="${WARDEN_TEST_ETCD_PORT:-12379}"
API_PORT="${WARDEN_TEST_KUBE_PORT:-16443}"
KWOK_PORT="${WARDEN_TEST_KWOK_PORT:-16450}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice
externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
kubelet metrics mount-utils pod-security-admission sample-apiserver streaming"

# build_kwok installs kwok (its module has no replace directives, so a
# plain go install works) next to the Kubernetes binaries' cache.
build_kwok() {
  [[ -x "$KWOK_BIN/kwok" ]] && return
  echo "kube.sh: installing kwok $KWOK_VERSION into $KWOK_BIN (cached)" >&2
  mkdir -p "$KWOK_BIN"
  (cd / && GOFLAGS= GOBIN="$KWOK_BIN" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION") >&2
}

# kwok_module prints the directory of kwok's module source, where its
# default stages (what makes a node Ready and a pod Running) and its CRDs are.
kwok_module() { (cd / && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

# start_kwok runs kwok as the kubelet of node kwok-0, on 127.0.0.1 (its
# addresses, InternalIP and Hostname, are both 127.0.0.1 so that the API
# server's kubelet client reaches kwok's server whatever address type it
# prefers), with the Logs/Exec/PortForward/Attach kinds as CRDs so that
# each test says per pod what its logs, exec and port-forward do.
start_kwok() {
  local mod crds kinds
  mod="$(kwok_module)"
  [[ -d "$mod" ]] || { echo "kube.sh: kwok's module source not found" >&2; exit 1; }
  for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    cat "$mod/kustomize/stage/$f.yaml"; echo "---"
  done > "$D/kwok-stages.yaml"
  kinds=(Logs ClusterLogs Exec ClusterExec PortForward ClusterPortForward Attach ClusterAttach)
  crds=()
  for k in logs clusterlogs execs clusterexecs portforwards clusterportforwards attaches clusterattaches; do
    crds+=(-f "$mod/kustomize/crd/bases/kwok.x-k8s.io_$k.yaml")
  done
  "$BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" apply --server-side "${crds[@]}" >/dev/null
  "$BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" wait --for condition=established --timeout=60s "${crds[@]}" >/dev/null
  "$KWOK_BIN/kwok" --kubeconfig "$D/admin.kubeconfig" --config "$D/kwok-stages.yaml" \
    --enable-crds "$(IFS=,; echo "${kinds[*]}")" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-name 127.0.0.1 --node-port "$KWOK_PORT" \
    --server-address "127.0.0.1:$KWOK_PORT" --cidr 10.244.0.0/24 >"$D/kwok.log" 2>&1 &
  echo $! > "$D/kwok.pid"
  "$BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" apply -f - >/dev/null <<'EON'
apiVersion: v1
kind: Node
metadata:
  name: kwok-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-0}
EON
  "$BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" wait --for condition=Ready --timeout=60s node/kwok-0 >/dev/null ||
    { tail -30 "$D/kwok.log" >&2; exit 1; }
}

build() {
  build_kwok
  local want=(kube-apiserver kube-controller-manager kubectl etcd) missing=()
  for b in "${want[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
  [[ ${#missing[@]} -eq 0 ]] && return
  echo "kube.sh: building ${missing[*]} for Kubernetes $KUBE_VERSION into $BIN (cached; ~17 min cold on 2 cores)" >&2
  mkdir -p "$CACHE/src" "$BIN"
  cd "$CACHE/src"
  if [[ ! -f go.mod ]]; then
    {
      echo "module wardenkube"
      echo
      echo "go 1.26"
      echo
      echo "require ("
      echo "	k8s.io/kubernetes $KUBE_VERSION"
      echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
      echo ")"
      echo
      for m in $staging; do echo "replace k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
    } > go.mod
    cat > tools.go <<'EOT'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOT
    go mod tidy >&2
  fi
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  for b in kube-apiserver kube-controller-manager kubectl; do
    if [[ ! -x "$BIN/$b" ]]; then
      go build -ldflags "$ldf" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2
      mv "$BIN/$b.tmp" "$BIN/$b"
    fi
  done
  if [[ ! -x "$BIN/etcd" ]]; then
    go build -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
    mv "$BIN/etcd.tmp" "$BIN/etcd"
  fi
}

running() { [[ -f "$D/apiserver.pid" ]] && kill -0 "$(cat "$D/apiserver.pid")" 2>/dev/null; }

start() {
  build
  mkdir -p "$D"
  if ! running; then
    rm -rf "$D"; mkdir -p "$D/pki"
    openssl genrsa -out "$D/sa.key" 2048 2>/dev/null
    openssl rsa -in "$D/sa.key" -pubout -out "$D/sa.pub" 2>/dev/null
    local token; token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    echo "$token,warden-admin,warden-admin,system:masters" > "$D/tokens.csv"
    echo "$token" > "$D/admin.token"
    chmod 600 "$D"/*.key "$D/tokens.csv" "$D/admin.token"
    "$BIN/etcd" --data-dir "$D/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
      --initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync >"$D/etcd.log" 2>&1 &
    echo $! > "$D/etcd.pid"
    "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --secure-port="$API_PORT" \
      --advertise-address=127.0.0.1 --endpoint-reconciler-type=none --cert-dir="$D/pki" \
      --token-auth-file="$D/tokens.csv" --authorization-mode=RBAC \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --service-account-key-file="$D/sa.pub" --service-account-signing-key-file="$D/sa.key" \
      --service-cluster-ip-range=10.96.0.0/16 >"$D/apiserver.log" 2>&1 &
    echo $! > "$D/apiserver.pid"
    local i
    for i in $(seq 1 120); do
      curl -sk --max-time 2 -H "Authorization: Bearer $token" "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null | grep -qx ok && break
      sleep 0.5
    done
    curl -sk -H "Authorization: Bearer $token" "https://127.0.0.1:$API_PORT/readyz" | grep -qx ok ||
      { tail -30 "$D/apiserver.log" >&2; exit 1; }
    cat > "$D/admin.kubeconfig" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: warden-test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$D/pki/apiserver.crt"}
users:
- name: warden-admin
  user: {token: "$token"}
contexts:
- name: warden-test
  context: {cluster: warden-test, user: warden-admin}
current-context: warden-test
EOK
    chmod 600 "$D/admin.kubeconfig"
    "$BIN/kube-controller-manager" --kubeconfig="$D/admin.kubeconfig" --leader-elect=false --secure-port=0 \
      --controllers=clusterrole-aggregation-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller \
      --root-ca-file="$D/pki/apiserver.crt" --service-account-private-key-file="$D/sa.key" >"$D/controller-manager.log" 2>&1 &
    echo $! > "$D/controller-manager.pid"
    start_kwok
  fi
  umask 077
  cat > "$ENVFILE" <<EOV
export WARDEN_TEST_KUBE_SERVER=https://127.0.0.1:$API_PORT
export WARDEN_TEST_KUBE_CA_FILE=$D/pki/apiserver.crt
export WARDEN_TEST_KUBE_TOKEN_FILE=$D/admin.token
export WARDEN_TEST_KUBECONFIG=$D/admin.kubeconfig
export WARDEN_TEST_KUBECTL=$BIN/kubectl
export WARDEN_TEST_KWOK_NODE=kwok-0
EOV
  echo "$ENVFILE"
}

# stop ends the three processes and waits for them (kube-apiserver's
# graceful shutdown takes seconds; after 30 s they are killed), so that the
# caller may remove the directory next.
stop() {
  local p pid i
  for p in kwok controller-manager apiserver etcd; do
    [[ -f "$D/$p.pid" ]] || continue
    pid="$(cat "$D/$p.pid")"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$D/$p.pid"
  done
}

case "${1:-}" in
build) build ;;
start) start ;;
stop) stop ;;
env) [[ -f "$ENVFILE" ]] && cat "$ENVFILE" ;;
*) echo "usage: $0 build|start|stop|env" >&2; exit 2 ;;
esac
