//! The ClusterIPs of function Services, picked by the operator.
//!
//! Kubernetes (1.33 and later, the `IPAddress` allocator) allocates the
//! ClusterIP of a Service that names none under one lock
//! (`MetaAllocator.AllocateNextService`), held while it writes the
//! `IPAddress` object: one Service after another, 17.7 a second on testenv
//! against 101.8 for headless ones (`bench/k8s-object-create`). A Service
//! that names a free address skips that lock. So the operator names one for
//! each new function Service: picked at random in the *dynamic band* of the
//! cluster's primary Service range (KEP-3070 keeps the range's lower band
//! for addresses people choose; the API server's allocator prefers the upper
//! band too). An address already taken makes the apply fail with 422; the
//! reconcile then picks again, and after [`PICKS`] refusals leaves the
//! choice to the API server. What users call does not change:
//! `fn-{name}.tenant-{id}.svc` on port 80, a ClusterIP Service as before.
//!
//! Which range ([`ServiceIpMode`], `--service-ips`): by default the one of
//! the ServiceCIDR object `kubernetes` that the API server creates (read
//! once when the operator starts); an explicit CIDR (all of it, for clusters
//! whose operator may not read ServiceCIDRs); or none, the API server
//! allocating as before.

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::{Api, Client};
use rand::Rng;

/// How many addresses a reconcile picks for one Service before it leaves
/// the choice to the API server.
pub const PICKS: usize = 3;

/// How many more times discovery asks an API server it cannot reach (a
/// second apart) before the API server is left to allocate.
const DISCOVERY_TRIES: u32 = 5;

/// The name of the ServiceCIDR the API server creates from its
/// `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_CIDR: &str = "kubernetes";

/// Where the operator takes the ClusterIPs of function Services from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServiceIpMode {
    /// The dynamic band of the ServiceCIDR `kubernetes`'s first range; if
    /// it cannot be read, the API server allocates.
    #[default]
    Discover,
    /// The API server allocates (one at a time).
    ApiServer,
    /// Any address of this range (inside the cluster's Service range) but
    /// its first and last.
    Range(IpNet),
}

impl FromStr for ServiceIpMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Discover),
            "apiserver" => Ok(Self::ApiServer),
            cidr => cidr.parse().map(Self::Range).map_err(|_| {
                format!("'{s}' is not auto, apiserver or a CIDR such as 10.96.128.0/17")
            }),
        }
    }
}

/// A block of addresses to pick ClusterIPs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceIps {
    /// The first address, as a number.
    first: u128,
    /// How many addresses from `first` on.
    count: u128,
    v6: bool,
}

impl ServiceIps {
    /// The dynamic band of the Service range `cidr`: above the static band
    /// of `min(max(16, size / 16), 256)` addresses (none in ranges of 16 or
    /// fewer), below the last address. `None` if nothing is left.
    pub fn dynamic_band(cidr: IpNet) -> Option<Self> {
        let size = range_size(cidr);
        let static_band = if size <= 16 {
            0
        } else {
            (size / 16).clamp(16, 256)
        };
        Self::offsets(cidr, static_band + 1, size)
    }

    /// Every address of `range` but its first (the network address) and
    /// its last. `None` if nothing is left.
    pub fn whole(range: IpNet) -> Option<Self> {
        Self::offsets(range, 1, range_size(range))
    }

    /// Offsets `from..size - 1` of `net`.
    fn offsets(net: IpNet, from: u128, size: u128) -> Option<Self> {
        let count = size
            .saturating_sub(1)
            .checked_sub(from)
            .filter(|c| *c > 0)?;
        let (base, v6) = match net.network() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), false),
            IpAddr::V6(a) => (u128::from(a), true),
        };
        Some(Self {
            first: base + from,
            count,
            v6,
        })
    }

    /// One address of the block, at random.
    pub fn pick(&self, rng: &mut impl Rng) -> IpAddr {
        self.at(rng.gen_range(0..self.count))
    }

    fn at(&self, offset: u128) -> IpAddr {
        let n = self.first + offset;
        if self.v6 {
            IpAddr::from(n.to_be_bytes())
        } else {
            IpAddr::from((n as u32).to_be_bytes())
        }
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let n = match ip {
            IpAddr::V4(a) if !self.v6 => u128::from(u32::from(a)),
            IpAddr::V6(a) if self.v6 => u128::from(a),
            _ => return false,
        };
        n >= self.first && n - self.first < self.count
    }

    /// The block `mode` names: for [`ServiceIpMode::Discover`] the dynamic
    /// band of the ServiceCIDR `kubernetes`, read through `client`. `None`:
    /// the API server allocates (logged with the reason when discovery
    /// fails).
    pub async fn resolve(mode: &ServiceIpMode, client: &Client) -> Option<Self> {
        let block = match mode {
            ServiceIpMode::ApiServer => return None,
            ServiceIpMode::Range(range) => Self::whole(*range),
            ServiceIpMode::Discover => {
                let api = Api::<ServiceCIDR>::all(client.clone());
                let mut tries = 0;
                let cidr = loop {
                    match api.get(DEFAULT_SERVICE_CIDR).await {
                        Ok(s) => {
                            break s
                                .spec
                                .and_then(|s| s.cidrs)
                                .and_then(|c| c.into_iter().next())
                        }
                        // Not reachable yet: a few more tries.
                        Err(e) if !matches!(e, kube::Error::Api(_)) && tries < DISCOVERY_TRIES => {
                            tries += 1;
                            tracing::info!(error = %e, "reading ServiceCIDR {DEFAULT_SERVICE_CIDR}: trying again");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read ServiceCIDR {DEFAULT_SERVICE_CIDR}: the API server allocates function ClusterIPs (one at a time; --service-ips names a range)");
                            return None;
                        }
                    }
                };
                cidr.and_then(|c| c.parse().ok())
                    .and_then(Self::dynamic_band)
            }
        };
        match block {
            Some(b) => {
                tracing::info!(first = %b.at(0), last = %b.at(b.count - 1), "function ClusterIPs picked by the operator")
            }
            None => tracing::warn!(
                ?mode,
                "no address range to pick function ClusterIPs from: the API server allocates them"
            ),
        }
        block
    }
}

/// The server-side apply of a function Service `wanted`. When it names a
/// ClusterIP and the API server refuses it (422: the address is taken, or
/// the Service exists with another one), the Service is applied again
/// naming its live address if it has one, else another pick from `ips`;
/// after [`PICKS`] refusals, naming none (the API server allocates, or
/// keeps the address the Service has). Returns the applied Service.
pub(crate) async fn apply_service(
    api: &Api<Service>,
    wanted: &Service,
    ips: Option<ServiceIps>,
) -> Result<Service, kube::Error> {
    let name = wanted.metadata.name.as_deref().unwrap_or_default();
    let mut svc = Cow::Borrowed(wanted);
    let mut refused = 0;
    loop {
        let named = named_ip(&svc).map(str::to_owned);
        match crate::apply(api, &svc).await {
            Err(kube::Error::Api(e)) if e.code == 422 && named.is_some() && refused < PICKS => {
                refused += 1;
                let live = api
                    .get_opt(name)
                    .await?
                    .and_then(|s| s.spec?.cluster_ip)
                    .filter(|ip| Some(ip) != named.as_ref() && !ip.is_empty() && ip != "None");
                let next = live.or_else(|| {
                    let pick = ips.filter(|_| refused < PICKS)?;
                    Some(pick.pick(&mut rand::thread_rng()).to_string())
                });
                tracing::info!(service = name, refused = ?named, next = ?next, reason = %e.message, "ClusterIP refused");
                if let Some(spec) = svc.to_mut().spec.as_mut() {
                    spec.cluster_ip = next;
                }
            }
            applied => return applied,
        }
    }
}

fn named_ip(svc: &Service) -> Option<&str> {
    svc.spec.as_ref()?.cluster_ip.as_deref()
}

/// How many addresses `net` has (2^128 - 1 for a /0 IPv6 range).
fn range_size(net: IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use super::*;
    use crate::testing::{self, Call};

    fn band(cidr: &str) -> Option<ServiceIps> {
        ServiceIps::dynamic_band(cidr.parse().unwrap())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_dynamic_band_skips_the_static_band_and_the_last_address() {
        // /16: static band min(max(16, 4096), 256) = 256 addresses after
        // the network address.
        let b = band("10.96.0.0/16").unwrap();
        assert!(!b.contains(ip("10.96.0.0")));
        assert!(!b.contains(ip("10.96.1.0")));
        assert!(b.contains(ip("10.96.1.1")));
        assert!(b.contains(ip("10.96.255.254")));
        assert!(!b.contains(ip("10.96.255.255")));
        assert_eq!(b.at(0), ip("10.96.1.1"));
        // /24: static band max(16, 16) = 16.
        let b = band("192.168.7.0/24").unwrap();
        assert_eq!(b.at(0), ip("192.168.7.17"));
        assert_eq!(b.at(b.count - 1), ip("192.168.7.254"));
        // /28: no static band.
        let b = band("10.0.0.16/28").unwrap();
        assert_eq!((b.at(0), b.count), (ip("10.0.0.17"), 14));
        // IPv6 /112 like a /16.
        let b = band("fd00:10:96::/112").unwrap();
        assert_eq!(b.at(0), ip("fd00:10:96::101"));
        assert!(!b.contains(ip("10.96.1.1")));
        assert!(band("10.0.0.0/31").is_none());
        assert!(band("10.0.0.1/32").is_none());
    }

    #[test]
    fn a_whole_range_drops_only_its_first_and_last_address() {
        let w = ServiceIps::whole("10.96.200.0/30".parse().unwrap()).unwrap();
        assert_eq!((w.at(0), w.count), (ip("10.96.200.1"), 2));
        assert!(ServiceIps::whole("10.96.200.7/32".parse().unwrap()).is_none());
    }

    #[test]
    fn picks_stay_in_the_band_and_spread_over_it() {
        let b = band("10.96.0.0/16").unwrap();
        let mut rng = rand::thread_rng();
        let picks: std::collections::HashSet<IpAddr> = (0..2000)
            .map(|_| b.pick(&mut rng))
            .inspect(|ip| assert!(b.contains(*ip), "{ip}"))
            .collect();
        // 2000 draws from 65,278 addresses: a few dozen repeats at most.
        assert!(picks.len() > 1900, "{}", picks.len());
        let v6 = band("fd00::/64").unwrap();
        assert!(v6.contains(v6.pick(&mut rng)));
    }

    /// A Service `fn-hello` naming `ip`.
    fn service(ip: Option<&str>) -> Service {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "fn-hello", "namespace": "tenant-acme"},
            "spec": {"ports": [{"port": 80}], "clusterIP": ip}
        }))
        .unwrap()
    }

    fn refused(message: &str) -> (StatusCode, serde_json::Value) {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "Invalid", "code": 422, "message": message}),
        )
    }

    fn not_found() -> (StatusCode, serde_json::Value) {
        (
            StatusCode::NOT_FOUND,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404, "message": "not found"}),
        )
    }

    /// The ClusterIP each apply among `calls` named (`None`: none).
    fn applied_ips(calls: &[Call]) -> Vec<Option<String>> {
        calls
            .iter()
            .filter(|c| c.method == Method::PATCH)
            .map(|c| c.body["spec"]["clusterIP"].as_str().map(str::to_owned))
            .collect()
    }

    #[tokio::test]
    async fn a_taken_address_is_picked_again_then_left_to_the_api_server() {
        // Every address the operator names is taken; one it does not name
        // is allocated.
        let (client, calls) = testing::client(|call| match call.method {
            Method::PATCH if call.body["spec"]["clusterIP"].is_string() => {
                refused("spec.clusterIPs: Invalid value: provided IP is already allocated")
            }
            Method::PATCH => {
                let mut s = call.body.clone();
                s["spec"]["clusterIP"] = "10.96.7.7".into();
                (StatusCode::OK, s)
            }
            _ => not_found(),
        });
        let api = Api::<Service>::namespaced(client, "tenant-acme");
        let ips = ServiceIps::whole("10.96.200.0/24".parse().unwrap());
        let svc = apply_service(&api, &service(Some("10.96.200.9")), ips)
            .await
            .expect("applied in the end");
        assert_eq!(named_ip(&svc), Some("10.96.7.7"));
        let calls = calls.lock().unwrap();
        let named = applied_ips(&calls);
        assert_eq!(named.len(), PICKS + 1, "{named:?}");
        assert_eq!(named[0].as_deref(), Some("10.96.200.9"));
        for ip in &named[1..PICKS] {
            let ip: IpAddr = ip.as_deref().expect("picked again").parse().unwrap();
            assert!(ips.unwrap().contains(ip), "{ip}");
        }
        assert_eq!(named[PICKS], None);
        // Each refusal looked for the Service's live address.
        let gets = calls.iter().filter(|c| c.method == Method::GET).count();
        assert_eq!(gets, PICKS);
    }

    #[tokio::test]
    async fn a_service_that_has_another_address_keeps_it() {
        // The Service exists with 10.96.3.3 (applied before the watch
        // brought it): naming another address is refused, naming its own
        // is not.
        let (client, calls) = testing::client(|call| match call.method {
            Method::GET => (
                StatusCode::OK,
                serde_json::to_value(service(Some("10.96.3.3"))).unwrap(),
            ),
            Method::PATCH if call.body["spec"]["clusterIP"] != "10.96.3.3" => {
                refused("spec.clusterIPs[0]: Invalid value: may not change once set")
            }
            _ => (StatusCode::OK, call.body.clone()),
        });
        let api = Api::<Service>::namespaced(client, "tenant-acme");
        let ips = ServiceIps::whole("10.96.0.0/16".parse().unwrap());
        let svc = apply_service(&api, &service(Some("10.96.200.9")), ips)
            .await
            .unwrap();
        assert_eq!(named_ip(&svc), Some("10.96.3.3"));
        let named = applied_ips(&calls.lock().unwrap());
        assert_eq!(
            named,
            [Some("10.96.200.9".to_owned()), Some("10.96.3.3".to_owned())]
        );
    }

    #[tokio::test]
    async fn other_refusals_and_unnamed_services_are_not_retried() {
        let (client, calls) = testing::client(|_| refused("spec.ports: Required value"));
        let api = Api::<Service>::namespaced(client, "tenant-acme");
        let err = apply_service(&api, &service(None), band("10.96.0.0/16"))
            .await
            .unwrap_err();
        assert!(matches!(err, kube::Error::Api(e) if e.code == 422));
        assert_eq!(calls.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_mode_is_auto_apiserver_or_a_cidr() {
        assert_eq!("auto".parse(), Ok(ServiceIpMode::Discover));
        assert_eq!("apiserver".parse(), Ok(ServiceIpMode::ApiServer));
        assert_eq!(
            "10.96.128.0/17".parse(),
            Ok(ServiceIpMode::Range("10.96.128.0/17".parse().unwrap()))
        );
        assert!("10.96.0.0".parse::<ServiceIpMode>().is_err());
    }
}
