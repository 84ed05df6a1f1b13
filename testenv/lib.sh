# Shared helpers for testenv/build, testenv/up, testenv/down, testenv/env.
# shellcheck shell=bash

TESTENV_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The Kubernetes release pinned in go.mod.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$TESTENV_SRC/go.mod")"
[[ -n "$K8S_VERSION" ]] || { echo "testenv: cannot find k8s.io/kubernetes in $TESTENV_SRC/go.mod" >&2; exit 1; }

TESTENV_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/eventflow/testenv"
TESTENV_STATE="${EVENTFLOW_TESTENV_DIR:-$TESTENV_CACHE/state}"

# Fixed loopback ports, away from the Kubernetes defaults.
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
APISERVER_PORT=26443
KCM_PORT=26444
SCHEDULER_PORT=26445
KWOK_PORT=26446

log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

testenv_bin_dir() { echo "$TESTENV_CACHE/$K8S_VERSION/bin"; }

# Changes whenever anything that decides the binaries' content changes.
testenv_stamp() {
  {
    local m
    for m in . kwok containerd coredns kube-router; do cat "$TESTENV_SRC/$m/go.mod" "$TESTENV_SRC/$m/go.sum"; done
    cat "$TESTENV_SRC/build"
    go version
  } | sha256sum | cut -d' ' -f1
}
