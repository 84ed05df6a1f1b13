//! Tier 1: the pure builders, validation and status derivation. No cluster.

use eventflow_core::spec::{RawAutoscaling, RawResourceList, RawResources};
use eventflow_core::{
    FunctionName, FunctionSpec, QuotaSpec, RawFunctionSpec, SpecLimits, TenantId,
};
use eventflow_crd::{Function, FunctionStatus, Phase, QuotaOverrides, Tenant, TenantSpec};
use eventflow_operator::build::{
    self, FunctionSettings, LimitDefaults, NetworkSettings, ServiceAccountRef,
};
use eventflow_operator::{status, validate};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use proptest::prelude::*;

fn owner(kind: &str, name: &str) -> OwnerReference {
    OwnerReference {
        api_version: "eventflow.io/v1alpha1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: "00000000-0000-0000-0000-000000000001".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn representative() -> (TenantId, FunctionName, FunctionSpec) {
    let spec = FunctionSpec::parse(
        RawFunctionSpec {
            image: Some("ghcr.io/acme/hello:1.2.3".into()),
            replicas: Some(2),
            env: Some(vec![eventflow_core::EnvVar {
                name: "GREETING".into(),
                value: "hello".into(),
            }]),
            resources: Some(RawResources {
                requests: Some(RawResourceList {
                    cpu: Some("250m".into()),
                    memory: Some("256Mi".into()),
                }),
                limits: None,
            }),
            port: Some(3000),
            command: Some(vec!["/app/server".into()]),
            args: Some(vec!["--verbose".into()]),
            autoscaling: Some(RawAutoscaling {
                min_replicas: Some(2),
                max_replicas: Some(5),
                target_cpu_percent: Some(70),
                ..RawAutoscaling::default()
            }),
            timeout_seconds: Some(30),
            retry: None,
            schedules: None,
            public_invoke: None,
            secret_env: None,
            secret_files: None,
        },
        SpecLimits::default(),
    )
    .expect("valid spec");
    (
        TenantId::parse("acme").unwrap(),
        FunctionName::parse("hello").unwrap(),
        spec,
    )
}

#[test]
fn function_objects_snapshot() {
    let (t, n, spec) = representative();
    let o = owner("Function", "hello");
    insta::assert_yaml_snapshot!(
        "deployment",
        build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, None)
    );
    insta::assert_yaml_snapshot!("service", build::service(&t, &n, &o, None));
    insta::assert_yaml_snapshot!("serviceaccount", build::service_account(&t, &n, &o));
    insta::assert_yaml_snapshot!("hpa", build::hpa(&t, &n, &spec, &o));
}

/// A ClusterIP the operator names is the only difference it makes.
#[test]
fn a_named_cluster_ip_is_the_services_only_difference() {
    let (t, n, _) = representative();
    let o = owner("Function", "hello");
    let allocated = build::service(&t, &n, &o, None);
    let mut named = build::service(&t, &n, &o, Some("10.96.7.9"));
    let spec = named.spec.as_mut().unwrap();
    assert_eq!(spec.cluster_ip.take().as_deref(), Some("10.96.7.9"));
    assert_eq!(named, allocated);
}

/// The operator's tolerations and node selector (`--pod-toleration`,
/// `--pod-node-selector`) land in the pod template, and only there.
#[test]
fn function_pods_get_the_operator_tolerations_and_node_selector() {
    let (t, n, spec) = representative();
    let o = owner("Function", "hello");
    let settings = FunctionSettings::parse(
        &["kwok.x-k8s.io/node=fake:NoSchedule", "dedicated:NoExecute"],
        &["type=kwok", "example.com/pool=functions"],
    )
    .unwrap();
    let placed = build::deployment(&t, &n, &spec, &settings, &o, None);
    let pod = placed
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    insta::assert_yaml_snapshot!(
        "deployment_pod_placement",
        serde_json::json!({
            "tolerations": pod.tolerations,
            "nodeSelector": pod.node_selector,
        })
    );
    // Everything else is the default Deployment.
    let mut plain = build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, None);
    let plain_pod = plain.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    assert!(plain_pod.tolerations.is_none() && plain_pod.node_selector.is_none());
    plain_pod.tolerations = pod.tolerations.clone();
    plain_pod.node_selector = pod.node_selector.clone();
    assert_eq!(plain, placed);
}

#[test]
fn the_function_url_is_in_the_cluster_domain_of_the_settings() {
    let (t, n, _) = representative();
    let default = FunctionSettings::default();
    assert_eq!(default.cluster_domain, "cluster.local");
    assert_eq!(
        build::function_url(&t, &n, &default),
        "http://fn-hello.tenant-acme.svc.cluster.local"
    );
    let parsed =
        FunctionSettings::parse(&["dedicated=functions:NoSchedule"], &["pool=fn"]).unwrap();
    assert_eq!(parsed.cluster_domain, build::DEFAULT_CLUSTER_DOMAIN);
    let other = FunctionSettings {
        cluster_domain: "corp.internal".into(),
        ..FunctionSettings::default()
    };
    assert_eq!(
        build::function_url(&t, &n, &other),
        "http://fn-hello.tenant-acme.svc.corp.internal"
    );
}

#[test]
fn tenant_objects_snapshot() {
    let t = TenantId::parse("acme").unwrap();
    let o = owner("Tenant", "acme");
    insta::assert_yaml_snapshot!("namespace", build::namespace(&t, &o));
    insta::assert_yaml_snapshot!(
        "resourcequota",
        build::resource_quota(&t, &QuotaSpec::default(), &o)
    );
    insta::assert_yaml_snapshot!(
        "limitrange",
        build::limit_range(&t, &LimitDefaults::default(), &o)
    );
    insta::assert_yaml_snapshot!(
        "networkpolicies",
        build::network_policies(&t, &NetworkSettings::default(), &o)
    );
    insta::assert_yaml_snapshot!(
        "server_rolebinding",
        build::server_role_binding(&t, &ServiceAccountRef::default(), &o)
    );
}

#[test]
fn only_a_namespace_labelled_for_the_tenant_is_the_tenants() {
    let t = TenantId::parse("acme").unwrap();
    let built = build::namespace(&t, &owner("Tenant", "acme"));
    assert!(build::is_tenant_namespace(&built, &t));
    let other = TenantId::parse("other").unwrap();
    assert!(
        !build::is_tenant_namespace(&built, &other),
        "another tenant's"
    );
    let mut bare = built.clone();
    bare.metadata.labels = None;
    assert!(
        !build::is_tenant_namespace(&bare, &t),
        "pre-existing, no labels"
    );
    for key in [eventflow_crd::MANAGED_BY_LABEL, eventflow_crd::TENANT_LABEL] {
        let mut partial = built.clone();
        partial.metadata.labels.as_mut().unwrap().remove(key);
        assert!(!build::is_tenant_namespace(&partial, &t), "without {key}");
    }
    let mut renamed = built.clone();
    renamed.metadata.name = Some("kube-system".into());
    assert!(
        !build::is_tenant_namespace(&renamed, &t),
        "labels on another name"
    );
}

#[test]
fn server_service_account_is_namespace_slash_name() {
    let a: ServiceAccountRef = "platform/api-server".parse().unwrap();
    assert_eq!(
        (a.namespace.as_str(), a.name.as_str()),
        ("platform", "api-server")
    );
    assert_eq!(a.to_string(), "platform/api-server");
    assert_eq!(
        ServiceAccountRef::default().to_string(),
        "eventflow-system/eventflow-server"
    );
    for bad in [
        "",
        "server",
        "/server",
        "ns/",
        "ns/a/b",
        "Ns/server",
        "n.s/server",
        "ns/-x",
        "ns/x y",
    ] {
        assert!(
            bad.parse::<ServiceAccountRef>().is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn without_autoscaling_there_is_no_hpa_and_replicas_are_set() {
    let (t, n, mut spec) = representative();
    spec.autoscaling = None;
    let o = owner("Function", "hello");
    assert!(build::hpa(&t, &n, &spec, &o).is_none());
    let d = build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, None);
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

#[test]
fn secrets_reach_the_pod_as_env_references_and_read_only_files_and_roll_it() {
    let (t, n, mut spec) = representative();
    spec.secret_env = vec![eventflow_core::SecretEnvVar {
        name: "DB_PASSWORD".into(),
        secret: "db".into(),
        key: "password".into(),
    }];
    spec.secret_files = vec![eventflow_core::SecretName::parse("tls").unwrap()];
    let o = owner("Function", "hello");
    let d = build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, Some("r1"));
    let template = d.spec.unwrap().template;
    assert_eq!(
        template.metadata.unwrap().annotations.unwrap()[build::SECRETS_REVISION_ANNOTATION],
        "r1"
    );
    let pod = template.spec.unwrap();
    let c = &pod.containers[0];
    let env = c.env.as_ref().unwrap();
    assert_eq!(env[0].value.as_deref(), Some("hello"));
    let from = env[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(env[1].name, "DB_PASSWORD");
    assert_eq!(env[1].value, None);
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("eventflow-secret-db", "password")
    );
    let vol = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "secret-tls")
        .unwrap();
    let src = vol.secret.unwrap();
    assert_eq!(src.secret_name.as_deref(), Some("eventflow-secret-tls"));
    assert_eq!(src.default_mode, Some(0o440));
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "secret-tls")
        .unwrap();
    assert_eq!(mount.mount_path, "/var/eventflow/secrets/tls");
    assert_eq!(mount.read_only, Some(true));
    // Without a revision the template has no annotation: nothing rolls.
    let plain = build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, None);
    assert!(plain
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .is_none());
}

#[test]
fn egress_excludes_metadata_endpoint_and_private_ranges() {
    let t = TenantId::parse("acme").unwrap();
    let pols = build::network_policies(&t, &NetworkSettings::default(), &owner("Tenant", "acme"));
    let egress = pols
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(build::NETPOL_ALLOW_EGRESS))
        .unwrap();
    let rules = egress.spec.as_ref().unwrap().egress.as_ref().unwrap();
    let block = rules
        .iter()
        .flat_map(|r| r.to.iter().flatten())
        .find_map(|p| p.ip_block.as_ref())
        .unwrap();
    assert_eq!(block.cidr, "0.0.0.0/0");
    let except = block.except.as_ref().unwrap();
    assert!(except.iter().any(|c| c == "169.254.0.0/16"));
    assert!(except.iter().any(|c| c == "10.0.0.0/8"));
    assert!(
        except.iter().any(|c| c == "168.63.129.16/32"),
        "Azure's WireServer"
    );
    // The API server's addresses and the always-excluded ones, also with a
    // custom --egress-except; IPv6 ones do not go into the IPv4 block.
    let net = NetworkSettings {
        egress_except: vec!["10.0.0.0/8".into()],
        api_server_cidrs: vec![
            "203.0.113.7/32".into(),
            "10.0.0.0/8".into(),
            "2001:db8::1/128".into(),
        ],
        ..NetworkSettings::default()
    };
    let pols = build::network_policies(&t, &net, &owner("Tenant", "acme"));
    let block = pols
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(build::NETPOL_ALLOW_EGRESS))
        .and_then(|p| {
            p.spec
                .as_ref()?
                .egress
                .as_ref()?
                .iter()
                .find_map(|r| r.to.as_ref()?.iter().find_map(|p| p.ip_block.clone()))
        })
        .unwrap();
    assert_eq!(
        block.except.unwrap(),
        ["10.0.0.0/8", "168.63.129.16/32", "203.0.113.7/32"],
        "each once, in order"
    );
    // default deny covers both directions
    let deny = pols
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(build::NETPOL_DEFAULT_DENY))
        .unwrap();
    let types = deny.spec.as_ref().unwrap().policy_types.clone().unwrap();
    assert_eq!(types, vec!["Ingress", "Egress"]);
}

// ------------------------------------------------------------ proptest ---

fn arb_raw_spec() -> impl Strategy<Value = RawFunctionSpec> {
    let env = prop::collection::vec(("[A-Z_][A-Z0-9_]{0,15}", "[ -~]{0,20}"), 0..4);
    let strs = prop::option::of(prop::collection::vec("[ -~]{0,12}", 0..3));
    (
        "[a-z][a-z0-9]{0,8}(/[a-z0-9]{1,8})?(:[a-z0-9.]{1,8})?",
        0i64..=20,
        env,
        prop::option::of((1i64..=4000, 1i64..=2048)),
        1i64..=65535,
        strs.clone(),
        strs,
        prop::option::of((1i64..=3, 3i64..=20, 1i64..=100)),
        1i64..=900,
    )
        .prop_map(
            |(image, replicas, env, res, port, command, args, auto, timeout)| RawFunctionSpec {
                image: Some(image),
                replicas: Some(replicas),
                env: Some(
                    env.into_iter()
                        .map(|(name, value)| eventflow_core::EnvVar { name, value })
                        .collect(),
                ),
                resources: res.map(|(cpu, mem)| RawResources {
                    requests: Some(RawResourceList {
                        cpu: Some(format!("{cpu}m")),
                        memory: Some(format!("{mem}Mi")),
                    }),
                    limits: Some(RawResourceList {
                        cpu: Some(format!("{}m", cpu * 2)),
                        memory: Some(format!("{}Mi", mem * 2)),
                    }),
                }),
                port: Some(port),
                command,
                args,
                autoscaling: auto.map(|(min, max, pct)| RawAutoscaling {
                    min_replicas: Some(min),
                    max_replicas: Some(max),
                    target_cpu_percent: Some(pct),
                    ..RawAutoscaling::default()
                }),
                timeout_seconds: Some(timeout),
                retry: None,
                schedules: None,
                public_invoke: None,
                secret_env: None,
                secret_files: None,
            },
        )
}

/// The checks of the Pod Security Standards "restricted" profile (v1.33)
/// that a pod spec can fail, plus EventFlow's own rules.
fn assert_restricted(pod: &PodSpec) {
    let psc = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.unwrap_or(0) > 0);
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert!(pod.host_network.is_none() && pod.host_pid.is_none() && pod.host_ipc.is_none());
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert!(pod.tolerations.is_none());
    assert!(pod.node_name.is_none());
    // Only the /tmp emptyDir: no hostPath or other volume types.
    let volumes = pod.volumes.as_ref().unwrap();
    assert_eq!(volumes.len(), 1);
    assert!(volumes[0].empty_dir.is_some() && volumes[0].host_path.is_none());
    assert!(pod.init_containers.is_none() && pod.ephemeral_containers.is_none());
    for c in &pod.containers {
        // Registry credentials are checked at every start (no reuse of a
        // private image another tenant's pod left on the node).
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_ne!(sc.privileged, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert!(sc.run_as_user.unwrap_or(0) > 0);
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert!(caps.add.is_none());
        assert!(sc.proc_mount.is_none() && sc.se_linux_options.is_none());
        assert!(c.ports.iter().flatten().all(|p| p.host_port.is_none()));
        let r = c.resources.as_ref().unwrap();
        for list in [r.requests.as_ref().unwrap(), r.limits.as_ref().unwrap()] {
            assert!(list.contains_key("cpu") && list.contains_key("memory"));
        }
        assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some());
        assert_eq!(
            c.volume_mounts.as_ref().unwrap()[0].mount_path,
            "/tmp".to_string()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_valid_spec_renders_a_restricted_pod_in_the_tenant_namespace(
        raw in arb_raw_spec(),
        tenant in "[a-z][a-z0-9]{0,20}",
        name in "[a-z][a-z0-9-]{0,20}[a-z0-9]",
    ) {
        let Ok(spec) = FunctionSpec::parse(raw, SpecLimits::default()) else {
            return Ok(());
        };
        let (Ok(t), Ok(n)) = (TenantId::parse(&tenant), FunctionName::parse(&name)) else {
            return Ok(());
        };
        let o = owner("Function", &name);
        let d = build::deployment(&t, &n, &spec, &FunctionSettings::default(), &o, None);
        let expected_ns = format!("tenant-{tenant}");
        prop_assert_eq!(d.metadata.namespace.as_deref(), Some(expected_ns.as_str()));
        let expected_name = format!("fn-{name}");
        prop_assert_eq!(d.metadata.name.as_deref(), Some(expected_name.as_str()));
        let pod = d.spec.unwrap().template.spec.unwrap();
        assert_restricted(&pod);
        // The operator's placement settings change nothing else in the pod.
        let settings = FunctionSettings::parse(&["dedicated=functions:NoSchedule"], &["pool=fn"]).unwrap();
        let mut placed = build::deployment(&t, &n, &spec, &settings, &o, None)
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        prop_assert_eq!(placed.tolerations.take().map(|t| t.len()), Some(1));
        prop_assert!(placed.node_selector.take().is_some());
        prop_assert_eq!(&placed, &pod);
        prop_assert_eq!(pod.service_account_name, Some(format!("fn-{name}")));
        prop_assert_eq!(pod.containers[0].image.as_deref(), Some(spec.image.as_str()));
        let s = build::service(&t, &n, &o, None);
        prop_assert_eq!(s.metadata.namespace.as_deref(), Some(expected_ns.as_str()));
        if let Some(h) = build::hpa(&t, &n, &spec, &o) {
            prop_assert_eq!(h.metadata.namespace.as_deref(), Some(expected_ns.as_str()));
        }
    }
}

// ---------------------------------------------------------- validation ---

fn function_cr(ns: &str, name: &str, replicas: i32) -> Function {
    let (_, _, spec) = representative();
    let mut f = Function::new(name, eventflow_crd::FunctionSpec::from(&spec));
    f.metadata.namespace = Some(ns.into());
    f.spec.replicas = replicas;
    f
}

#[test]
fn function_outside_a_tenant_namespace_is_invalid() {
    let err = validate::function(&function_cr("default", "hello", 1)).unwrap_err();
    assert_eq!(err.field, "metadata.namespace");
}

#[test]
fn negative_replicas_are_invalid() {
    let err = validate::function(&function_cr("tenant-acme", "hello", -1)).unwrap_err();
    assert_eq!(err.field, "spec.replicas");
}

#[test]
fn valid_function_round_trips_through_the_crd() {
    let (_, _, spec) = representative();
    let v = validate::function(&function_cr("tenant-acme", "hello", 2)).unwrap();
    assert_eq!(v.tenant.as_str(), "acme");
    assert_eq!(v.spec, spec);
}

#[test]
fn tenant_overrides_apply_and_bad_quantities_are_invalid() {
    let mut t = Tenant::new(
        "acme",
        TenantSpec {
            quota: Some(QuotaOverrides {
                pods: Some(3),
                limits_cpu: Some("4".into()),
                ..QuotaOverrides::default()
            }),
            limits: None,
        },
    );
    let v = validate::tenant(&t).unwrap();
    assert_eq!(v.quota.pods, 3);
    assert_eq!(v.quota.limits_cpu, "4");
    assert_eq!(v.quota.requests_memory, "20Gi");
    t.spec.quota.as_mut().unwrap().requests_memory = Some("lots".into());
    assert_eq!(
        validate::tenant(&t).unwrap_err().field,
        "spec.quota.requestsMemory"
    );
    t.spec.quota.as_mut().unwrap().requests_memory = None;
    t.spec.quota.as_mut().unwrap().pods = Some(-1);
    assert_eq!(validate::tenant(&t).unwrap_err().field, "spec.quota.pods");
}

// -------------------------------------------------------------- status ---

fn deployment(generation: i64, observed: i64, replicas: i32, ready: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            generation: Some(generation),
            ..ObjectMeta::default()
        },
        status: Some(DeploymentStatus {
            observed_generation: Some(observed),
            replicas: Some(replicas),
            updated_replicas: Some(replicas),
            ready_replicas: Some(ready),
            ..DeploymentStatus::default()
        }),
        ..Deployment::default()
    }
}

fn derive(d: Option<&Deployment>, pods: &[Pod], desired: i32) -> FunctionStatus {
    status::derive(
        None,
        Some(1),
        desired,
        "http://fn-hello.tenant-acme.svc.cluster.local".into(),
        &status::Observed {
            deployment: d,
            pods,
        },
        "2026-01-01T00:00:00Z",
    )
}

#[test]
fn status_phases() {
    let s = derive(None, &[], 2);
    assert_eq!(s.phase, Some(Phase::Pending));
    let d = deployment(1, 1, 2, 1);
    let s = derive(Some(&d), &[], 2);
    assert_eq!(s.phase, Some(Phase::Deploying));
    assert_eq!(s.ready_replicas, 1);
    let d = deployment(1, 1, 2, 2);
    let s = derive(Some(&d), &[], 2);
    assert_eq!(s.phase, Some(Phase::Running));
    assert_eq!(s.conditions[0].status, "True");
    assert_eq!(
        s.url.as_deref(),
        Some("http://fn-hello.tenant-acme.svc.cluster.local")
    );
    // A rollout the Deployment controller has not seen yet is not Running.
    let d = deployment(2, 1, 2, 2);
    assert_eq!(derive(Some(&d), &[], 2).phase, Some(Phase::Deploying));
}

fn waiting_pod(reason: &str) -> Pod {
    Pod {
        status: Some(PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "function".into(),
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.into()),
                        message: Some(format!("{reason} for the test")),
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        }),
        ..Pod::default()
    }
}

#[test]
fn failures_surface_as_reasons() {
    let d = deployment(1, 1, 2, 0);
    for (pod_reason, reason) in [
        ("ErrImagePull", "ImagePullBackOff"),
        ("ImagePullBackOff", "ImagePullBackOff"),
        ("CrashLoopBackOff", "CrashLoopBackOff"),
    ] {
        let s = derive(Some(&d), &[waiting_pod(pod_reason)], 2);
        assert_eq!(s.phase, Some(Phase::Failed));
        assert_eq!(s.conditions[0].reason, reason);
    }
    // The ReplicaSet's quota refusal, as the Deployment controller copies it.
    let mut d = deployment(1, 1, 2, 1);
    d.status.as_mut().unwrap().conditions = Some(vec![DeploymentCondition {
        type_: "ReplicaFailure".into(),
        status: "True".into(),
        reason: Some("FailedCreate".into()),
        message: Some("pods \"fn-hello-x\" is forbidden: exceeded quota: eventflow-quota".into()),
        ..DeploymentCondition::default()
    }]);
    let s = derive(Some(&d), &[], 2);
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(s.conditions[0].reason, "QuotaExceeded");
    assert!(s.conditions[0].message.contains("exceeded quota"));
    // Another ReplicaFailure (say a PodSecurity refusal) is not a quota one.
    d.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].message =
        Some("pods \"fn-hello-x\" is forbidden: violates PodSecurity".into());
    assert_ne!(
        derive(Some(&d), &[], 2).conditions[0].reason,
        "QuotaExceeded"
    );
    let mut d = deployment(1, 1, 2, 0);
    d.status.as_mut().unwrap().conditions = Some(vec![DeploymentCondition {
        type_: "Progressing".into(),
        status: "False".into(),
        reason: Some("ProgressDeadlineExceeded".into()),
        message: Some("ReplicaSet \"fn-hello-1\" has timed out progressing.".into()),
        ..DeploymentCondition::default()
    }]);
    let s = derive(Some(&d), &[], 2);
    assert_eq!(s.conditions[0].reason, "ProgressDeadlineExceeded");
}

#[test]
fn unchanged_state_derives_an_equal_status() {
    let d = deployment(1, 1, 2, 2);
    let first = derive(Some(&d), &[], 2);
    let observed = status::Observed {
        deployment: Some(&d),
        pods: &[],
    };
    let second = status::derive(
        Some(&first),
        Some(1),
        2,
        first.url.clone().unwrap(),
        &observed,
        "2030-01-01T00:00:00Z",
    );
    assert_eq!(
        first, second,
        "a later reconcile must not change the status"
    );
}
