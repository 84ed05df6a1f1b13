//! Function status, derived from what the cluster reports (pure).
//!
//! Phase and the `Ready` condition follow from the Deployment (its status
//! and conditions) and the pods' container states, in this order of
//! precedence: image pull failures, crash loops, quota exceeded,
//! progress deadline exceeded, then ready / deploying.

use eventflow_crd::{Condition, FunctionStatus, Phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

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

/// A failure the user has to act on, found in the pods or the Deployment.
pub fn failure(o: &Observed<'_>) -> Option<(&'static str, String)> {
    pod_failure(o).or_else(|| deployment_failure(o))
}

/// What the containers' waiting states say: image pulls first, then OOM
/// kills, then crashes.
fn pod_failure(o: &Observed<'_>) -> Option<(&'static str, String)> {
    let containers = o
        .pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.container_statuses.iter().flatten());
    let (mut oom, mut crash) = (None, None);
    for c in containers {
        let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = w.reason.as_deref().unwrap_or_default();
        let message = w.message.clone().unwrap_or_default();
        let or_default = |m: String, default: String| if m.is_empty() { default } else { m };
        match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                let m = or_default(message, format!("the image cannot be pulled ({reason})"));
                return Some((REASON_IMAGE_PULL, m));
            }
            "CrashLoopBackOff" | "CreateContainerError" | "RunContainerError" => {
                match last_exit(c) {
                    Some((last, _)) if last == "OOMKilled" => {
                        oom.get_or_insert((
                            REASON_OOM_KILLED,
                            format!(
                                "the container used more memory than its limit and was killed \
                                 (OOMKilled); restarted {} times",
                                c.restart_count
                            ),
                        ));
                    }
                    exit => {
                        let mut m =
                            or_default(message, format!("the container keeps failing ({reason})"));
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
    oom.or(crash)
}

/// What the Deployment says: the namespace's quota refused pods (its
/// `ReplicaFailure` condition, copied from the ReplicaSet whose creates
/// failed), or the rollout passed its progress deadline.
fn deployment_failure(o: &Observed<'_>) -> Option<(&'static str, String)> {
    let conditions = o
        .deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let quota = conditions.iter().find(|c| {
        c.type_ == "ReplicaFailure"
            && c.status == "True"
            && c.message
                .as_deref()
                .unwrap_or("")
                .contains("exceeded quota")
    });
    if let Some(m) = quota.and_then(|c| c.message.clone()) {
        return Some((REASON_QUOTA, m));
    }
    conditions
        .iter()
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            (
                REASON_DEADLINE,
                c.message
                    .clone()
                    .unwrap_or_else(|| "the rollout made no progress".into()),
            )
        })
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

/// The `Ready` condition a status is built around.
struct Ready {
    phase: Phase,
    status: &'static str,
    reason: &'static str,
    message: String,
}

impl Ready {
    fn not(phase: Phase, reason: &'static str, message: String) -> Self {
        Self {
            phase,
            status: "False",
            reason,
            message,
        }
    }

    fn running(reason: &'static str, message: String) -> Self {
        Self {
            phase: Phase::Running,
            status: "True",
            reason,
            message,
        }
    }

    /// The status with this condition, merged into the previous ones.
    fn status(
        self,
        previous: Option<&FunctionStatus>,
        generation: Option<i64>,
        (replicas, ready_replicas): (i32, i32),
        url: Option<String>,
        now: &str,
    ) -> FunctionStatus {
        let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
        FunctionStatus {
            phase: Some(self.phase),
            replicas,
            ready_replicas,
            conditions: vec![merge_condition(
                prev,
                Condition {
                    type_: READY.into(),
                    status: self.status.into(),
                    reason: self.reason.into(),
                    message: self.message,
                    last_transition_time: None,
                    observed_generation: generation,
                },
                now,
            )],
            observed_generation: generation,
            url,
            image_digest: None,
        }
    }
}

/// The digest (`sha256:…`) the node resolved for `image`: the one every
/// ready, not terminating pod running `image` reports in its container's
/// `imageID`; `None` when there is no such pod, one reports none, or they
/// differ (a tag moved between pulls).
pub fn image_digest(image: &str, pods: &[Pod]) -> Option<String> {
    let mut digests = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.spec.as_ref().is_some_and(|s| {
                s.containers
                    .iter()
                    .any(|c| c.image.as_deref() == Some(image))
            })
        })
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .and_then(|c| {
                    c.image_id
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_string())
                        .or_else(|| {
                            c.image_id
                                .starts_with("sha256:")
                                .then(|| c.image_id.clone())
                        })
                })
                .filter(|d| d.starts_with("sha256:") && d.len() == 71)
        });
    let first = digests.next()??;
    digests
        .all(|d| d.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// Status of a function whose CR cannot be applied.
pub fn invalid(
    previous: Option<&FunctionStatus>,
    generation: Option<i64>,
    message: String,
    now: &str,
) -> FunctionStatus {
    let counts = (
        previous.map_or(0, |p| p.replicas),
        previous.map_or(0, |p| p.ready_replicas),
    );
    let url = previous.and_then(|p| p.url.clone());
    Ready::not(Phase::Failed, REASON_INVALID, message)
        .status(previous, generation, counts, url, now)
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
    let ready = o
        .deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    ready_condition(desired, o).status(previous, generation, (desired, ready), Some(url), now)
}

/// Pending without a Deployment; Failed on a failure while not all desired
/// replicas are ready and rolled out; Running once they are; else Deploying.
fn ready_condition(desired: i32, o: &Observed<'_>) -> Ready {
    let Some(deployment) = o.deployment else {
        return Ready::not(
            Phase::Pending,
            REASON_PENDING,
            "waiting for the Deployment".into(),
        );
    };
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let updated = ds.updated_replicas.unwrap_or(0);
    let total = ds.replicas.unwrap_or(0);
    let rolled_out =
        ds.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    if let Some((reason, message)) = failure(o).filter(|_| ready < desired || !rolled_out) {
        Ready::not(Phase::Failed, reason, message)
    } else if !(rolled_out && ready >= desired && updated >= desired && total <= desired) {
        Ready::not(
            Phase::Deploying,
            REASON_DEPLOYING,
            format!("{ready}/{desired} replicas ready"),
        )
    } else if desired == 0 {
        Ready::not(
            Phase::Idle,
            REASON_SCALED_TO_ZERO,
            "scaled to zero replicas; with minReplicas 0 the next invocation starts one".into(),
        )
    } else {
        Ready::running(
            REASON_READY,
            format!("{ready}/{desired} replicas ready{}", restarts(o)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, PodStatus,
    };

    fn running(image: &str, image_id: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "function", "image": image}]},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": "function", "image": image, "imageID": image_id,
                    "ready": ready, "restartCount": 0}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_image_digest_is_the_one_every_ready_pod_of_the_image_runs() {
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        let at = |d: &str| format!("127.0.0.1:5000/samples/echo@{d}");
        let img = "127.0.0.1:5000/samples/echo:v1";
        let one = running(img, &at(&d1), true);
        assert_eq!(
            image_digest(img, std::slice::from_ref(&one)),
            Some(d1.clone())
        );
        // Pods of an older image, not ready ones and a bare digest.
        let pods = [
            one.clone(),
            running("other:1", &at(&d2), true),
            running(img, &at(&d2), false),
        ];
        assert_eq!(image_digest(img, &pods), Some(d1.clone()));
        assert_eq!(
            image_digest(img, &[running(img, &d1, true)]),
            Some(d1.clone())
        );
        // Two digests for one tag, none known, no pod: unknown.
        assert_eq!(
            image_digest(img, &[one.clone(), running(img, &at(&d2), true)]),
            None
        );
        assert_eq!(image_digest(img, &[running(img, "", true)]), None);
        assert_eq!(image_digest(img, &[]), None);
    }

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
