//! Function status, derived from what the cluster reports (pure).
//!
//! Phase and the `Ready` condition follow from the Deployment, the pods'
//! container states and the ReplicaSet's `FailedCreate` events, in this
//! order of precedence: image pull failures, crash loops, quota exceeded,
//! progress deadline exceeded, then ready / deploying.

use eventflow_crd::{Condition, FunctionStatus, Phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};

pub const READY: &str = "Ready";
pub const REASON_IMAGE_PULL: &str = "ImagePullBackOff";
pub const REASON_CRASH_LOOP: &str = "CrashLoopBackOff";
pub const REASON_OOM_KILLED: &str = "OOMKilled";
pub const REASON_QUOTA: &str = "QuotaExceeded";
pub const REASON_DEADLINE: &str = "ProgressDeadlineExceeded";
pub const REASON_INVALID: &str = "InvalidSpec";
pub const REASON_READY: &str = "AllReplicasReady";
pub const REASON_DEPLOYING: &str = "Deploying";
pub const REASON_PENDING: &str = "Pending";
pub const REASON_SCALED_TO_ZERO: &str = "ScaledToZero";

/// What the cluster says about one function.
#[derive(Debug, Default, Clone, Copy)]
pub struct Observed<'a> {
    pub deployment: Option<&'a Deployment>,
    pub pods: &'a [Pod],
    /// `FailedCreate` events of the function's ReplicaSets (recent ones).
    pub failed_create_events: &'a [Event],
}

/// How a container last ended, from its `lastState.terminated`: e.g.
/// "last exit: code 1 (Error)", with the termination message if any.
fn last_exit(c: &ContainerStatus) -> Option<(String, String)> {
    let t = c.last_state.as_ref()?.terminated.as_ref()?;
    let reason = t.reason.clone().unwrap_or_else(|| "Terminated".into());
    let mut s = format!("last exit: code {} ({reason})", t.exit_code);
    if let Some(m) = t
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        s.push_str(&format!(": {m}"));
    }
    Some((reason, s))
}

/// "; 2 restarts, last exit: code 137 (OOMKilled)" when containers restarted,
/// so a Running function still says why it restarted.
fn restarts(o: &Observed<'_>) -> String {
    let containers: Vec<&ContainerStatus> = o
        .pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.container_statuses.iter().flatten())
        .collect();
    let total: i32 = containers.iter().map(|c| c.restart_count).sum();
    let last = containers
        .iter()
        .filter_map(|c| {
            let t = c.last_state.as_ref()?.terminated.as_ref()?;
            Some((t.finished_at.clone(), c))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .and_then(|(_, c)| last_exit(c));
    match (total, last) {
        (0, _) => String::new(),
        (n, Some((_, e))) => format!("; {n} restart{}, {e}", if n == 1 { "" } else { "s" }),
        (n, None) => format!("; {n} restart{}", if n == 1 { "" } else { "s" }),
    }
}

/// A failure the user has to act on, found in pods, events or the Deployment.
pub fn failure(o: &Observed<'_>) -> Option<(&'static str, String)> {
    let containers = o
        .pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.container_statuses.iter().flatten());
    // Image pulls first (returned at once), then OOM kills, then crashes.
    let (mut oom, mut crash) = (None, None);
    for c in containers {
        let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = w.reason.as_deref().unwrap_or_default();
        let message = w.message.clone().unwrap_or_default();
        match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                let m = if message.is_empty() {
                    format!("the image cannot be pulled ({reason})")
                } else {
                    message
                };
                return Some((REASON_IMAGE_PULL, m));
            }
            "CrashLoopBackOff" | "CreateContainerError" | "RunContainerError" => {
                let restarts = c.restart_count;
                match last_exit(c) {
                    Some((last, _)) if last == "OOMKilled" => {
                        oom.get_or_insert((
                            REASON_OOM_KILLED,
                            format!(
                                "the container used more memory than its limit and was killed \
                                 (OOMKilled); restarted {restarts} times"
                            ),
                        ));
                    }
                    exit => {
                        let mut m = if message.is_empty() {
                            format!("the container keeps failing ({reason})")
                        } else {
                            message
                        };
                        if let Some((_, e)) = exit {
                            m.push_str(&format!("; {e}"));
                        }
                        crash.get_or_insert((REASON_CRASH_LOOP, m));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(f) = oom.or(crash) {
        return Some(f);
    }
    let conditions = o
        .deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let quota_condition = conditions.iter().find(|c| {
        c.type_ == "ReplicaFailure"
            && c.status == "True"
            && c.message
                .as_deref()
                .unwrap_or("")
                .contains("exceeded quota")
    });
    let quota_event = o.failed_create_events.iter().find(|e| {
        e.reason.as_deref() == Some("FailedCreate")
            && e.message
                .as_deref()
                .unwrap_or("")
                .contains("exceeded quota")
    });
    if let Some(m) = quota_event
        .and_then(|e| e.message.clone())
        .or_else(|| quota_condition.and_then(|c| c.message.clone()))
    {
        return Some((REASON_QUOTA, m));
    }
    if let Some(c) = conditions.iter().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Some((
            REASON_DEADLINE,
            c.message
                .clone()
                .unwrap_or_else(|| "the rollout made no progress".into()),
        ));
    }
    None
}

/// Sets `cond` in `conditions`, keeping `lastTransitionTime` when the
/// condition's status did not change, so an unchanged state compares equal.
fn merge_condition(previous: &[Condition], mut cond: Condition, now: &str) -> Condition {
    let prev = previous.iter().find(|c| c.type_ == cond.type_);
    cond.last_transition_time = match prev {
        Some(p) if p.status == cond.status => p.last_transition_time.clone(),
        _ => Some(now.to_string()),
    };
    cond
}

/// Status of a function whose CR cannot be applied.
pub fn invalid(
    previous: Option<&FunctionStatus>,
    generation: Option<i64>,
    message: String,
    now: &str,
) -> FunctionStatus {
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    FunctionStatus {
        phase: Some(Phase::Failed),
        replicas: previous.map_or(0, |p| p.replicas),
        ready_replicas: previous.map_or(0, |p| p.ready_replicas),
        conditions: vec![merge_condition(
            prev,
            Condition {
                type_: READY.into(),
                status: "False".into(),
                reason: REASON_INVALID.into(),
                message,
                last_transition_time: None,
                observed_generation: generation,
            },
            now,
        )],
        observed_generation: generation,
        url: previous.and_then(|p| p.url.clone()),
    }
}

/// The status of a function from what was observed. `desired` is the
/// replica count the function asks for (or the HPA chose); `replicas` in the
/// status is that desired count, `readyReplicas` the Deployment's ready pods.
pub fn derive(
    previous: Option<&FunctionStatus>,
    generation: Option<i64>,
    desired: i32,
    url: String,
    o: &Observed<'_>,
    now: &str,
) -> FunctionStatus {
    let ds = o
        .deployment
        .and_then(|d| d.status.clone())
        .unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let updated = ds.updated_replicas.unwrap_or(0);
    let total = ds.replicas.unwrap_or(0);
    let rolled_out = o
        .deployment
        .is_some_and(|d| ds.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0));
    let (phase, status, reason, message) = if o.deployment.is_none() {
        (
            Phase::Pending,
            "False",
            REASON_PENDING,
            "waiting for the Deployment".to_string(),
        )
    } else if let Some((reason, message)) = failure(o).filter(|_| ready < desired || !rolled_out) {
        (Phase::Failed, "False", reason, message)
    } else if rolled_out && ready >= desired && updated >= desired && total <= desired {
        if desired == 0 {
            (
                Phase::Running,
                "True",
                REASON_SCALED_TO_ZERO,
                "scaled to zero replicas".to_string(),
            )
        } else {
            (
                Phase::Running,
                "True",
                REASON_READY,
                format!("{ready}/{desired} replicas ready{}", restarts(o)),
            )
        }
    } else {
        (
            Phase::Deploying,
            "False",
            REASON_DEPLOYING,
            format!("{ready}/{desired} replicas ready"),
        )
    };
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    FunctionStatus {
        phase: Some(phase),
        replicas: desired,
        ready_replicas: ready,
        conditions: vec![merge_condition(
            prev,
            Condition {
                type_: READY.into(),
                status: status.into(),
                reason: reason.into(),
                message,
                last_transition_time: None,
                observed_generation: generation,
            },
            now,
        )],
        observed_generation: generation,
        url: Some(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, PodStatus,
    };

    fn pod(waiting: Option<&str>, last: Option<(i32, &str)>, restarts: i32) -> Pod {
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "function".into(),
                    restart_count: restarts,
                    state: waiting.map(|r| ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(r.into()),
                            message: Some("back-off 10s restarting failed container".into()),
                        }),
                        ..ContainerState::default()
                    }),
                    last_state: last.map(|(code, reason)| ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: code,
                            reason: Some(reason.into()),
                            ..ContainerStateTerminated::default()
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

    fn failure_of(p: Pod) -> Option<(&'static str, String)> {
        failure(&Observed {
            pods: &[p],
            ..Observed::default()
        })
    }

    #[test]
    fn a_crash_loop_says_how_the_container_last_ended() {
        let (reason, message) =
            failure_of(pod(Some("CrashLoopBackOff"), Some((1, "Error")), 3)).unwrap();
        assert_eq!(reason, REASON_CRASH_LOOP);
        assert!(
            message.ends_with("; last exit: code 1 (Error)"),
            "{message}"
        );
    }

    #[test]
    fn an_oom_kill_is_its_own_reason() {
        let (reason, message) =
            failure_of(pod(Some("CrashLoopBackOff"), Some((137, "OOMKilled")), 1)).unwrap();
        assert_eq!(reason, REASON_OOM_KILLED);
        assert!(message.contains("memory"), "{message}");
    }

    #[test]
    fn reasons_follow_their_rank_whatever_the_pod_order() {
        let pods = [
            pod(Some("CrashLoopBackOff"), Some((1, "Error")), 2),
            pod(Some("CrashLoopBackOff"), Some((137, "OOMKilled")), 1),
            pod(Some("ImagePullBackOff"), None, 0),
        ];
        let rank = |p: &[Pod]| {
            failure(&Observed {
                pods: p,
                ..Observed::default()
            })
            .map(|f| f.0)
        };
        assert_eq!(rank(&pods), Some(REASON_IMAGE_PULL));
        assert_eq!(rank(&pods[..2]), Some(REASON_OOM_KILLED));
        assert_eq!(rank(&pods[..1]), Some(REASON_CRASH_LOOP));
    }

    #[test]
    fn restarts_of_running_pods_are_reported() {
        let p = [pod(None, Some((137, "OOMKilled")), 2)];
        let o = Observed {
            pods: &p,
            ..Observed::default()
        };
        assert_eq!(
            restarts(&o),
            "; 2 restarts, last exit: code 137 (OOMKilled)"
        );
        let p = [pod(None, None, 0)];
        let o = Observed {
            pods: &p,
            ..Observed::default()
        };
        assert_eq!(restarts(&o), "");
    }
}
