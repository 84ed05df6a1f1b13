# The real node of testenv: sourced by testenv/up and testenv/down.
#
#   registry      Debian's docker-registry on 127.0.0.1:$REGISTRY_PORT
#   private-registry  the same images, read-only, behind a login, on
#                 $PRIVATE_REGISTRY (pull credentials are tested against it)
#   containerd    containerd 2 (CRI) with runc and the CNI bridge plugin
#   kubelet       node $REAL_NODE, IP $NODE_IP on bridge $NODE_BRIDGE
#   kube-proxy    iptables mode: ClusterIP Services from pods and the host
#   kube-router   only its firewall: enforces NetworkPolicies
#   coredns       cluster DNS on $NODE_IP:53 (the kubelet's clusterDNS)
#
# Everything lives in $state (deleted by testenv/down), except the registry's
# blobs, kept in $TESTENV_CACHE/registry like the binaries so images survive a
# down/up. Host-wide changes (sysctls, directories the kubelet and containerd
# insist on, iptables chains) are recorded in $state/node/ and undone by
# node_down.
# shellcheck shell=bash

REAL_NODE=testenv-node-1
NODE_BRIDGE=eftestenv0
POD_CIDR=10.246.0.0/24
NODE_IP=10.246.0.1
SERVICE_CIDR=10.96.0.0/16
REGISTRY_PORT=26450
REGISTRY="127.0.0.1:$REGISTRY_PORT"
PAUSE_IMAGE="$REGISTRY/testenv/pause:$K8S_VERSION"
# The same images behind a login (read-only, same storage): a tenant's pull
# credentials matter here. The login is a test fixture, not a secret:
# user eventflow-pull, password testenv-private-pull (bcrypt below).
PRIVATE_REGISTRY_PORT=26452
PRIVATE_REGISTRY="127.0.0.1:$PRIVATE_REGISTRY_PORT"
PRIVATE_REGISTRY_HTPASSWD='eventflow-pull:$2a$10$NF/WExjZwcpag9Jli79wSuwnYsVA.9ZkPFM.RPf6OlpZJKQ0dQucm'
COREDNS_HEALTH_PORT=26451
KUBE_PROXY_HEALTH_PORT=26453
KUBE_PROXY_METRICS_PORT=26454
CONTAINERD_METRICS_PORT=26455
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=26456
# The host's chain that stops pod traffic from leaving the machine (see
# node_network_up); named so that down finds it.
SAFETY_CHAIN=EVENTFLOW-TESTENV-EGRESS
# Host paths the kubelet, containerd and CNI use whatever their root dirs say.
NODE_HOST_DIRS=(/run/containerd /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/netns /etc/cni)
# Sysctls the node needs, and those the kubelet changes on start (it "fixes"
# kernel tunables unless protectKernelDefaults): saved and restored by down.
NODE_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory vm.panic_on_oom
              kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Packet counters kube-proxy creates (nfacct objects); --cleanup leaves them.
KUBE_PROXY_NFACCT=(ct_state_invalid_dropped_pkts localhost_nps_accepted_pkts)
NODE_COMPONENTS=(registry private-registry containerd kubelet kube-proxy kube-router coredns)

# Why this machine cannot host the real node, or nothing.
node_unsupported_reason() {
  [[ "$(uname -s)" == Linux ]] || { echo "the real node needs Linux"; return; }
  [[ "$(id -u)" == 0 ]] || { echo "the real node needs root (kubelet, containerd, iptables)"; return; }
  [[ -d /sys/fs/cgroup && -w /sys/fs/cgroup ]] || [[ -w /sys/fs/cgroup/memory ]] \
    || { echo "the real node needs writable cgroups (/sys/fs/cgroup)"; return; }
  local t
  for t in runc iptables ip6tables ipset conntrack nfacct ip buildah docker-registry; do
    command -v "$t" >/dev/null || { echo "'$t' is missing (run scripts/install-deps)"; return; }
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] \
    || { echo "the CNI plugins are missing (apt-get install containernetworking-plugins)"; return; }
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] \
    || { echo "the kernel's br_netfilter is not loaded (/proc/sys/net/bridge missing)"; return; }
  # testenv's down removes kubepods cgroups, KUBE-/CNI- iptables chains and
  # kube-router ipsets by name: it must not share the machine with another
  # kubelet, kube-proxy or CNI whose objects it would take for its own.
  local d ours="${state:-$TESTENV_STATE}/node"
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [[ -d "$d" && ! -d "$ours" ]]; then echo "another kubelet's cgroup $d exists"; return; fi
  done
  if [[ ! -d "$ours" ]] && iptables -S 2>/dev/null | grep -qE -- '^-N (KUBE-|CNI-)'; then
    echo "another Kubernetes node's iptables chains (KUBE-*/CNI-*) exist"; return
  fi
}

# --- host state: recorded before the first change, undone by node_down ----
node_record_host() {
  mkdir -p "$state/node"
  local d s
  : > "$state/node/created-dirs"
  for d in "${NODE_HOST_DIRS[@]}"; do [[ -e "$d" ]] || echo "$d" >> "$state/node/created-dirs"; done
  : > "$state/node/sysctl.orig"
  for s in "${NODE_SYSCTLS[@]}"; do
    if [[ -e "/proc/sys/${s//.//}" ]]; then echo "$s=$(cat "/proc/sys/${s//.//}")" >> "$state/node/sysctl.orig"; fi
  done
}

node_network_up() {
  log "network: bridge $NODE_BRIDGE ($NODE_IP, pods $POD_CIDR), forwarding, pod egress kept on this machine"
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # Pods may reach pods, Services and this node, nothing beyond the machine:
  # a packet from the pod range that would leave through another interface is
  # dropped after the filter table (so NetworkPolicies decide first; the
  # counters of this chain show what got past them).
  iptables -t mangle -N "$SAFETY_CHAIN"
  iptables -t mangle -A "$SAFETY_CHAIN" -o "$NODE_BRIDGE" -j RETURN
  iptables -t mangle -A "$SAFETY_CHAIN" -o lo -j RETURN
  iptables -t mangle -A "$SAFETY_CHAIN" -j DROP
  iptables -t mangle -I POSTROUTING 1 -s "$POD_CIDR" -j "$SAFETY_CHAIN"
}

# --- certificates and kubeconfigs for the node's identities ----------------
node_certs() {
  cert kubelet "/O=system:nodes/CN=system:node:$REAL_NODE" clientAuth
  cert kubelet-serving "/CN=$REAL_NODE" serverAuth "IP:$NODE_IP,DNS:$REAL_NODE"
  cert kube-proxy "/CN=system:kube-proxy" clientAuth
  cert kube-router "/CN=eventflow-testenv:kube-router" clientAuth
  cert coredns "/CN=eventflow-testenv:coredns" clientAuth
  local c
  for c in kubelet kube-proxy kube-router coredns; do write_kubeconfig "$state/$c.kubeconfig" "$c"; done
}

# RBAC for the identities that have no bootstrap role (kube-proxy's
# system:node-proxier and the Node authorizer for the kubelet come built in).
node_rbac() {
  kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "eventflow-testenv:apiserver-kubelet-client"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kubelet-api-admin"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "eventflow-testenv:kube-router"}
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, endpoints, nodes]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "eventflow-testenv:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "eventflow-testenv:kube-router"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "eventflow-testenv:kube-router"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "eventflow-testenv:coredns"}
rules:
- apiGroups: [""]
  resources: [namespaces, services, pods, endpoints]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "eventflow-testenv:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "eventflow-testenv:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "eventflow-testenv:coredns"}]
EOF
}

# --- registry ---------------------------------------------------------------
registry_up() {
  mkdir -p "$TESTENV_CACHE/registry" "$state/registry"
  cat > "$state/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $TESTENV_CACHE/registry}
  delete: {enabled: true}
http: {addr: "$REGISTRY"}
EOF
  start_exe registry "$(command -v docker-registry)" serve "$state/registry/config.yml"
  registry_ready() { curl -fsS --max-time 2 "http://$REGISTRY/v2/" >/dev/null; }
  wait_for "registry on $REGISTRY" 30 registry registry_ready
  # The private one: same storage, read-only, basic auth (htpasswd, bcrypt).
  mkdir -p "$state/private-registry"
  printf '%s\n' "$PRIVATE_REGISTRY_HTPASSWD" > "$state/private-registry/htpasswd"
  cat > "$state/private-registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $TESTENV_CACHE/registry}
  maintenance:
    uploadpurging: {enabled: false}
    readonly: {enabled: true}
http: {addr: "$PRIVATE_REGISTRY"}
auth:
  htpasswd: {realm: eventflow-testenv-private, path: $state/private-registry/htpasswd}
EOF
  start_exe private-registry "$(command -v docker-registry)" serve "$state/private-registry/config.yml"
  # Up, and asking for the login: 401 without it.
  private_registry_ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$PRIVATE_REGISTRY/v2/")" == 401 ]]
  }
  wait_for "private registry on $PRIVATE_REGISTRY" 30 private-registry private_registry_ready
}

# The sandbox image: the pause binary testenv/build compiled, on scratch.
# Pushed once; the registry's storage outlives down/up.
pause_image_up() {
  if curl -fs --max-time 5 -o /dev/null \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$REGISTRY/v2/testenv/pause/manifests/$K8S_VERSION"; then
    log "sandbox image $PAUSE_IMAGE is in the registry"
    return
  fi
  log "building the sandbox image $PAUSE_IMAGE with buildah"
  local b root="$TESTENV_CACHE/buildah"
  local bh=(buildah --root "$root/storage" --runroot "$root/run" --storage-driver vfs)
  b="$("${bh[@]}" from scratch)"
  "${bh[@]}" copy "$b" "$bin/pause" /pause >/dev/null
  "${bh[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$b"
  "${bh[@]}" commit --quiet --format oci "$b" "$PAUSE_IMAGE" >/dev/null
  "${bh[@]}" rm "$b" >/dev/null
  "${bh[@]}" push --quiet --tls-verify=false "$PAUSE_IMAGE" "docker://$PAUSE_IMAGE"
  "${bh[@]}" rmi "$PAUSE_IMAGE" >/dev/null || true
}

# --- containerd -------------------------------------------------------------
containerd_up() {
  local c="$state/containerd"
  mkdir -p "$c/root" "$c/run" "$c/certs.d/$REGISTRY" "$c/certs.d/_default" "$c/certs.d/$PRIVATE_REGISTRY" \
    "$state/cni/net.d" "$state/cni/ipam"
  # The loopback registry, and for every other registry (docker.io, ghcr.io,
  # ...) the loopback registry too: the node never pulls from outside this
  # machine; an image that was not pushed there fails with "not found".
  local h
  for h in "$REGISTRY" _default; do
    cat > "$c/certs.d/$h/hosts.toml" <<EOF
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  done
  # The private registry as itself (plain HTTP): the kubelet passes the
  # pod's pull Secret for this host, containerd answers its 401 with it.
  cat > "$c/certs.d/$PRIVATE_REGISTRY/hosts.toml" <<EOF
server = "http://$PRIVATE_REGISTRY"
[host."http://$PRIVATE_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  cat > "$state/cni/net.d/10-eventflow-testenv.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "eventflow-testenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$state/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat > "$c/config.toml" <<EOF
version = 3
root = "$c/root"
state = "$c/run"
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[metrics]
  address = "127.0.0.1:$CONTAINERD_METRICS_PORT"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$c/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: nothing may lower oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$(command -v runc)"
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$state/cni/net.d"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
EOF
  # The shim is found on PATH.
  PATH="$bin:$PATH" start containerd --config "$c/config.toml" --log-level warn
  containerd_ready() { "$bin/ctr" --address "$c/containerd.sock" version; }
  wait_for "containerd answering" 30 containerd containerd_ready
}

# --- kubelet ----------------------------------------------------------------
kubelet_up() {
  mkdir -p "$state/kubelet" "$state/pod-logs"
  cat > "$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: $state/pod-logs
serializeImagePulls: false
maxPods: 110
# A shared test machine: never evict for the host's disk or memory.
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
EOF
  start kubelet \
    --config="$state/kubelet/config.yaml" \
    --kubeconfig="$state/kubelet.kubeconfig" \
    --root-dir="$state/kubelet" \
    --cert-dir="$state/kubelet/pki" \
    --hostname-override="$REAL_NODE" \
    --node-ip="$NODE_IP" \
    --node-labels="eventflow.dev/testenv-node=real" \
    --v=1
  node_registered() { kubectl --kubeconfig "$kubeconfig" get node "$REAL_NODE"; }
  wait_for "node $REAL_NODE registered" 90 kubelet node_registered
  # Nothing allocates node CIDRs here; kube-router reads the pod range from it.
  kubectl --kubeconfig "$kubeconfig" patch node "$REAL_NODE" --type merge \
    -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null
}

kube_proxy_up() {
  mkdir -p "$state/kube-proxy"
  cat > "$state/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
hostnameOverride: $REAL_NODE
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTH_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false, masqueradeAll: false}
# Leave the host's conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy --config="$state/kube-proxy/config.yaml" --v=1
  kube_proxy_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$KUBE_PROXY_HEALTH_PORT/healthz"; }
  wait_for "kube-proxy healthy" 60 kube-proxy kube_proxy_ready
}

kube_router_up() {
  start kube-router \
    --kubeconfig="$state/kube-router.kubeconfig" \
    --hostname-override="$REAL_NODE" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-pod-egress=false \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --runtime-endpoint="unix://$state/containerd/containerd.sock" \
    --health-port=0 --metrics-port=0 \
    --v=1
  # Its default-deny-capable chains exist once the firewall has synced.
  kube_router_ready() { iptables -S KUBE-ROUTER-FORWARD; }
  wait_for "kube-router's firewall chains" 60 kube-router kube_router_ready
}

coredns_up() {
  mkdir -p "$state/coredns"
  cat > "$state/coredns/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:$COREDNS_HEALTH_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/coredns.kubeconfig eventflow-testenv
        pods insecure
    }
    cache 5
}
EOF
  start coredns -conf "$state/coredns/Corefile"
  coredns_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$COREDNS_HEALTH_PORT/health"; }
  wait_for "coredns healthy" 30 coredns coredns_ready
}

node_up() {
  local s=$SECONDS
  log "starting the real node $REAL_NODE"
  node_record_host
  node_network_up
  registry_up
  pause_image_up
  containerd_up
  kubelet_up
  node_rbac
  kube_proxy_up
  kube_router_up
  coredns_up
  real_node_ready() {
    [[ "$(kubectl --kubeconfig "$kubeconfig" get node "$REAL_NODE" \
          -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
  }
  wait_for "node $REAL_NODE Ready" 120 kubelet real_node_ready
  log "real node $REAL_NODE up in $((SECONDS - s))s"
}

# --- teardown ---------------------------------------------------------------
# Mount points under the state or under a host directory the node created.
node_mounts() {
  local roots=("$state") d
  if [[ -f "$state/node/created-dirs" ]]; then
    while IFS= read -r d; do roots+=("$d"); done < "$state/node/created-dirs"
  fi
  awk '{print $5}' /proc/self/mountinfo | while IFS= read -r m; do
    for d in "${roots[@]}"; do
      if [[ "$m" == "$d" || "$m" == "$d"/* ]]; then echo "$m"; break; fi
    done
  done
}

# Every pid in the node's cgroups (containers, pause processes).
kubepods_pids() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [[ -d "$d" ]]; then find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
  done | sort -u
}

node_down() { # stop_pid function
  local stop="$1" n
  [[ -d "$state/node" ]] || return 0
  # Pods first, through the kubelet, so CNI tears their networks down; then
  # by force whatever is left.
  if pid_alive kubelet && [[ -f "$kubeconfig" ]]; then
    log "deleting the pods on $REAL_NODE"
    kubectl --kubeconfig "$kubeconfig" cordon "$REAL_NODE" >/dev/null 2>&1 || true
    kubectl --kubeconfig "$kubeconfig" delete pods -A --field-selector "spec.nodeName=$REAL_NODE" \
      --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for ((n = 0; n < 40; n++)); do
      [[ -z "$(kubepods_pids | head -1)" ]] && break
      sleep 0.5
    done
  fi
  for n in coredns kube-router kube-proxy kubelet; do "$stop" "$n"; done
  # Containers the kubelet did not stop: kill them, then the shims.
  local pids
  pids="$(kubepods_pids)"
  if [[ -n "$pids" ]]; then
    log "killing $(wc -w <<<"$pids") leftover container processes"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  "$stop" containerd
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"
    if [[ "$exe" == "$TESTENV_CACHE"/*/bin/containerd-shim-runc-v2 ]]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
  done
  "$stop" private-registry
  "$stop" registry
  # Mounts (overlay rootfs, shm, netns, volumes): deepest first.
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done < <(node_mounts | sort -r)
  # The node's cgroups, children before parents.
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d "$d" ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [[ -d "$d" ]]; then log "could not remove cgroup $d"; fi
  done
  # Network: the pods' veths went with their namespaces; the bridge, the
  # rules of kube-proxy, kube-router and CNI, and our safety chain.
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  # (Not kube-proxy --cleanup or kube-router --cleanup-config: they also
  # flush the host's IPVS tables and load modules. What they made is removed
  # by name below.)
  node_iptables_cleanup
  { ipset list -n 2>/dev/null || true; } | { grep -E '^(KUBE-|kube-router|inet6:)' || true; } \
    | while read -r n; do ipset destroy "$n" 2>/dev/null || true; done
  # kube-proxy's packet counters (nfacct objects), once no rule uses them.
  local acct
  for acct in "${KUBE_PROXY_NFACCT[@]}"; do
    if nfacct get "$acct" >/dev/null 2>&1; then
      nfacct delete "$acct" >/dev/null 2>&1 || log "could not delete nfacct counter $acct"
    fi
  done
  conntrack -D -s "$POD_CIDR" >/dev/null 2>&1 || true
  conntrack -D -d "$POD_CIDR" >/dev/null 2>&1 || true
  # Host-wide settings and directories back as they were.
  local kv
  while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null || log "could not restore $kv"; done < "$state/node/sysctl.orig"
  while IFS= read -r d; do rm -rf "$d" 2>/dev/null || log "could not remove $d"; done < "$state/node/created-dirs"
  rm -rf "$state/node"
}

# Removes every chain (and the jumps to it) that kube-proxy, kube-router, the
# CNI plugins and testenv made, in every table, IPv4 and IPv6.
node_iptables_cleanup() {
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    for table in filter nat mangle raw; do
      # Jumps first (rules of any chain that target ours), then the chains.
      { "$ipt" -t "$table" -S 2>/dev/null || true; } | { grep -E -- "^-A .* -j (KUBE-|CNI-|$SAFETY_CHAIN)" || true; } \
        | while read -r rule; do
          # iptables -S quotes comments; eval keeps them one word.
          eval "\"\$ipt\" -t \"\$table\" ${rule/-A/-D}" 2>/dev/null || true
        done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-|'"$SAFETY_CHAIN"')/ {print $2}'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-|'"$SAFETY_CHAIN"')/ {print $2}'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}
