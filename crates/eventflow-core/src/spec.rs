//! The function specification: what a tenant asks EventFlow to run.
//!
//! [`RawFunctionSpec`] is the wire form (every field optional, numbers signed
//! so that a bad value is reported on its field rather than as a parse error).
//! [`FunctionSpec::parse`] turns it into a [`FunctionSpec`] with defaults
//! applied, or a [`ValidationError`] naming the first offending field.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Quantity, ValidationError};

pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
pub const MAX_TIMEOUT_SECONDS: u32 = 900;
pub const DEFAULT_TARGET_CPU_PERCENT: u32 = 80;
/// In-flight requests per replica that request-based scaling aims at when
/// `minReplicas` is 0 and no target is given.
pub const DEFAULT_TARGET_CONCURRENCY: u32 = 10;
pub const MAX_TARGET_CONCURRENCY: u32 = 1000;
/// Bounds of `autoscaling.idleSeconds`.
pub const MIN_IDLE_SECONDS: u32 = 10;
pub const MAX_IDLE_SECONDS: u32 = 86_400;
pub const DEFAULT_REQUEST_CPU: &str = "100m";
pub const DEFAULT_REQUEST_MEMORY: &str = "128Mi";
pub const DEFAULT_LIMIT_CPU: &str = "500m";
pub const DEFAULT_LIMIT_MEMORY: &str = "512Mi";
pub const MAX_IMAGE_LEN: usize = 512;
pub const MAX_ENV_VARS: usize = 100;
pub const MAX_ENV_NAME_LEN: usize = 128;
/// Sum of names and values of all environment variables.
pub const MAX_ENV_BYTES: usize = 64 * 1024;
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_LEN: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFunctionSpec {
    /// Container image reference, e.g. `nginx:alpine` or `ghcr.io/org/app@sha256:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Desired replicas (0 stops the function). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RawResources>,
    /// Port the container listens on. Default 8080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<RawAutoscaling>,
    /// Invocation timeout in seconds (1..=900). Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// How asynchronous invocations of this function are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    /// Cron triggers: each run is an asynchronous invocation (POST to the
    /// function's root path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<crate::schedule::RawSchedule>>,
    /// Opt in to an unauthenticated route for webhooks,
    /// `/v1/public/{tenant}/{name}/invoke` (under the tenant's rate limits).
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_invoke: Option<bool>,
    /// Environment variables set from keys of the tenant's secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<Vec<crate::SecretEnvVar>>,
    /// Secrets mounted read-only as files, one per key, at
    /// `/var/eventflow/secrets/{secret}/{key}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_files: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts of one asynchronous invocation before it is `dead`, 1–20
    /// (default: the platform's, 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RawResourceList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RawResourceList>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawResourceList {
    /// CPU quantity, e.g. `100m` or `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory quantity, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAutoscaling {
    /// 0 lets the function scale to zero when idle (request-based scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i64>,
    /// CPU-based scaling (a HorizontalPodAutoscaler): the average CPU
    /// utilization to aim at, 1–100 (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_percent: Option<i64>,
    /// Request-based scaling (EventFlow's scaler): in-flight requests per
    /// replica to aim at, 1–1000; default 10 when `minReplicas` is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_concurrency: Option<i64>,
    /// With `minReplicas` 0: seconds without requests before the function
    /// goes to zero, 10–86400 (default: the platform's, 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<i64>,
}

/// A validated function specification with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    pub image: String,
    pub replicas: u32,
    pub env: Vec<EnvVar>,
    pub resources: Resources,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    pub timeout_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<crate::schedule::Schedule>,
    /// Whether anyone may invoke it at `/v1/public/{tenant}/{name}/invoke`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_invoke: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<crate::SecretEnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub secret_files: Vec<crate::SecretName>,
}

/// Retries of asynchronous invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    /// `None`: the platform's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// Most attempts one asynchronous invocation may be given.
pub const MAX_ATTEMPTS: u32 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceList {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "100m"))]
    pub cpu: Quantity,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "128Mi"))]
    pub memory: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The HPA's target; unused with request-based scaling.
    pub target_cpu_percent: u32,
    /// Set: request-based scaling by EventFlow's scaler (no HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_concurrency: Option<u32>,
    /// Seconds without requests before scaling to zero (`minReplicas` 0
    /// only); `None`: the platform's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u32>,
}

impl Autoscaling {
    /// Whether EventFlow's scaler sets the replicas from in-flight
    /// requests (else a CPU-based HPA does).
    pub fn by_requests(&self) -> bool {
        self.target_concurrency.is_some()
    }
}

/// Per-tenant bounds a spec is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecLimits {
    pub max_replicas: u32,
    /// The shortest time allowed between two runs of a schedule.
    pub min_schedule_interval_seconds: u32,
}

impl Default for SpecLimits {
    fn default() -> Self {
        Self {
            max_replicas: 20,
            min_schedule_interval_seconds: 60,
        }
    }
}

fn err<T>(field: &str, message: impl Into<String>) -> Result<T, ValidationError> {
    Err(ValidationError::new(field, message))
}

fn bounded(field: &str, v: i64, min: i64, max: i64) -> Result<u32, ValidationError> {
    if v < min || v > max {
        return err(field, format!("must be between {min} and {max}"));
    }
    u32::try_from(v).map_err(|_| ValidationError::new(field, "out of range"))
}

fn parse_image(image: Option<&str>) -> Result<String, ValidationError> {
    let Some(image) = image else {
        return err("image", "is required");
    };
    if image.is_empty() {
        return err("image", "must not be empty");
    }
    if image.len() > MAX_IMAGE_LEN {
        return err(
            "image",
            format!("must be at most {MAX_IMAGE_LEN} characters"),
        );
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err("image", "must not contain whitespace");
    }
    // Docker's grammar: an optional registry host (it has a '.' or ':' or is
    // `localhost`), then a lowercase repository path.
    let without_digest = image.split('@').next().unwrap_or(image);
    let (first, rest) = without_digest
        .split_once('/')
        .unwrap_or(("", without_digest));
    let is_host = first.contains(['.', ':']) || first == "localhost";
    let path = if is_host {
        rest.to_string()
    } else {
        without_digest.to_string()
    };
    let repository = match path.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => path.as_str(),
    };
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return err("image", "the repository name must be lowercase");
    }
    crate::image_ref::check(image).map_err(|e| {
        ValidationError::new("image", format!("is not a valid image reference: {e}"))
    })?;
    Ok(image.to_owned())
}

fn parse_env(env: Option<Vec<EnvVar>>) -> Result<Vec<EnvVar>, ValidationError> {
    let env = env.unwrap_or_default();
    if env.len() > MAX_ENV_VARS {
        return err(
            "env",
            format!("at most {MAX_ENV_VARS} variables are allowed"),
        );
    }
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for (i, var) in env.iter().enumerate() {
        let field = format!("env[{i}].name");
        let name = var.name.as_str();
        check_env_name(&field, name)?;
        if !seen.insert(name) {
            return err(&field, format!("duplicate variable {name:?}"));
        }
        total += name.len() + var.value.len();
    }
    if total > MAX_ENV_BYTES {
        return err(
            "env",
            format!("names and values must total at most {MAX_ENV_BYTES} bytes"),
        );
    }
    Ok(env)
}

/// An environment variable's name: 1–128 letters, digits, `_`, `.` and
/// `-`, starting with a letter or `_`.
pub(crate) fn check_env_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.len() > MAX_ENV_NAME_LEN {
        return err(field, format!("must be 1 to {MAX_ENV_NAME_LEN} characters"));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return err(
            field,
            "must start with a letter or '_' and contain only letters, digits, '_', '.' and '-'",
        );
    }
    Ok(())
}

fn parse_strings(
    field: &str,
    v: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ValidationError> {
    let Some(v) = v else { return Ok(None) };
    if v.len() > MAX_ARGS {
        return err(field, format!("at most {MAX_ARGS} items are allowed"));
    }
    for (i, s) in v.iter().enumerate() {
        if s.len() > MAX_ARG_LEN {
            return err(
                &format!("{field}[{i}]"),
                format!("must be at most {MAX_ARG_LEN} bytes"),
            );
        }
    }
    Ok(Some(v))
}

fn quantity(field: &str, v: Option<&String>, default: &str) -> Result<Quantity, ValidationError> {
    let text = v.map(String::as_str).unwrap_or(default);
    Quantity::parse(text).map_err(|e| ValidationError::new(field, e.to_string()))
}

fn parse_resources(raw: Option<RawResources>) -> Result<Resources, ValidationError> {
    let raw = raw.unwrap_or_default();
    let req = raw.requests.unwrap_or_default();
    let lim = raw.limits.unwrap_or_default();
    let requests = ResourceList {
        cpu: quantity(
            "resources.requests.cpu",
            req.cpu.as_ref(),
            DEFAULT_REQUEST_CPU,
        )?,
        memory: quantity(
            "resources.requests.memory",
            req.memory.as_ref(),
            DEFAULT_REQUEST_MEMORY,
        )?,
    };
    // An omitted limit defaults to the platform default, raised to the request
    // when the request is larger, so `requests.cpu: 1` alone is accepted.
    let limit_or_request =
        |field: &str, given: Option<&String>, default: &str, request: &Quantity| {
            let q = quantity(field, given, default)?;
            Ok::<_, ValidationError>(if given.is_none() && q < *request {
                request.clone()
            } else {
                q
            })
        };
    let limits = ResourceList {
        cpu: limit_or_request(
            "resources.limits.cpu",
            lim.cpu.as_ref(),
            DEFAULT_LIMIT_CPU,
            &requests.cpu,
        )?,
        memory: limit_or_request(
            "resources.limits.memory",
            lim.memory.as_ref(),
            DEFAULT_LIMIT_MEMORY,
            &requests.memory,
        )?,
    };
    if requests.cpu.nanos() == 0 {
        return err("resources.requests.cpu", "must be greater than 0");
    }
    if requests.memory.nanos() == 0 {
        return err("resources.requests.memory", "must be greater than 0");
    }
    if limits.cpu < requests.cpu {
        return err(
            "resources.limits.cpu",
            format!("must be at least requests.cpu ({})", requests.cpu),
        );
    }
    if limits.memory < requests.memory {
        return err(
            "resources.limits.memory",
            format!("must be at least requests.memory ({})", requests.memory),
        );
    }
    Ok(Resources { requests, limits })
}

fn parse_autoscaling(
    raw: Option<RawAutoscaling>,
    limits: SpecLimits,
) -> Result<Option<Autoscaling>, ValidationError> {
    let Some(raw) = raw else { return Ok(None) };
    let max_allowed = i64::from(limits.max_replicas);
    let min_replicas = bounded(
        "autoscaling.minReplicas",
        raw.min_replicas.unwrap_or(1),
        0,
        max_allowed.max(1),
    )?;
    let Some(max) = raw.max_replicas else {
        return err("autoscaling.maxReplicas", "is required");
    };
    let floor = min_replicas.max(1);
    let max_replicas = bounded(
        "autoscaling.maxReplicas",
        max,
        i64::from(floor),
        max_allowed,
    )
    .map_err(|_| {
        ValidationError::new(
            "autoscaling.maxReplicas",
            format!("must be between {floor} and {max_allowed}"),
        )
    })?;
    if raw.target_concurrency.is_some() && raw.target_cpu_percent.is_some() {
        return err(
            "autoscaling.targetCpuPercent",
            "give targetConcurrency (request-based scaling) or targetCpuPercent (CPU-based), not both",
        );
    }
    if min_replicas == 0 && raw.target_cpu_percent.is_some() {
        return err(
            "autoscaling.minReplicas",
            "0 needs request-based scaling (targetConcurrency): CPU-based scaling keeps at least one replica",
        );
    }
    let target_concurrency = match raw.target_concurrency {
        Some(t) => Some(bounded(
            "autoscaling.targetConcurrency",
            t,
            1,
            i64::from(MAX_TARGET_CONCURRENCY),
        )?),
        None if min_replicas == 0 => Some(DEFAULT_TARGET_CONCURRENCY),
        None => None,
    };
    let idle_seconds = match raw.idle_seconds {
        Some(_) if min_replicas != 0 => {
            return err(
                "autoscaling.idleSeconds",
                "applies only with minReplicas 0 (scale to zero)",
            )
        }
        Some(s) => Some(bounded(
            "autoscaling.idleSeconds",
            s,
            i64::from(MIN_IDLE_SECONDS),
            i64::from(MAX_IDLE_SECONDS),
        )?),
        None => None,
    };
    let target_cpu_percent = bounded(
        "autoscaling.targetCpuPercent",
        raw.target_cpu_percent
            .unwrap_or(i64::from(DEFAULT_TARGET_CPU_PERCENT)),
        1,
        100,
    )?;
    Ok(Some(Autoscaling {
        min_replicas,
        max_replicas,
        target_cpu_percent,
        target_concurrency,
        idle_seconds,
    }))
}

impl FunctionSpec {
    /// Validates a raw spec, filling in defaults. Fails on the first bad field.
    pub fn parse(raw: RawFunctionSpec, limits: SpecLimits) -> Result<Self, ValidationError> {
        let image = parse_image(raw.image.as_deref())?;
        let replicas = bounded(
            "replicas",
            raw.replicas.unwrap_or(1),
            0,
            i64::from(limits.max_replicas),
        )?;
        let env = parse_env(raw.env)?;
        let resources = parse_resources(raw.resources)?;
        let port = bounded(
            "port",
            raw.port.unwrap_or(i64::from(DEFAULT_PORT)),
            1,
            65535,
        )?;
        let command = parse_strings("command", raw.command)?;
        let args = parse_strings("args", raw.args)?;
        let autoscaling = parse_autoscaling(raw.autoscaling, limits)?;
        let timeout_seconds = bounded(
            "timeoutSeconds",
            raw.timeout_seconds
                .unwrap_or(i64::from(DEFAULT_TIMEOUT_SECONDS)),
            1,
            i64::from(MAX_TIMEOUT_SECONDS),
        )?;
        let retry = raw
            .retry
            .map(|r| {
                let max_attempts = r
                    .max_attempts
                    .map(|n| bounded("retry.maxAttempts", n, 1, i64::from(MAX_ATTEMPTS)))
                    .transpose()?;
                Ok::<_, ValidationError>(Retry { max_attempts })
            })
            .transpose()?;
        let schedules =
            crate::schedule::parse_schedules(raw.schedules, limits.min_schedule_interval_seconds)?;
        let (secret_env, secret_files) =
            crate::secret::parse_refs(raw.secret_env, raw.secret_files, &env)?;
        Ok(Self {
            image,
            replicas,
            env,
            resources,
            port: u16::try_from(port).map_err(|_| ValidationError::new("port", "out of range"))?,
            command,
            args,
            autoscaling,
            timeout_seconds,
            retry,
            schedules,
            public_invoke: raw.public_invoke.unwrap_or(false),
            secret_env,
            secret_files,
        })
    }

    /// The raw form of this spec, for applying a partial update and
    /// validating the result again.
    pub fn to_raw(&self) -> RawFunctionSpec {
        let list = |l: &ResourceList| RawResourceList {
            cpu: Some(l.cpu.to_string()),
            memory: Some(l.memory.to_string()),
        };
        RawFunctionSpec {
            image: Some(self.image.clone()),
            replicas: Some(i64::from(self.replicas)),
            env: Some(self.env.clone()),
            resources: Some(RawResources {
                requests: Some(list(&self.resources.requests)),
                limits: Some(list(&self.resources.limits)),
            }),
            port: Some(i64::from(self.port)),
            command: self.command.clone(),
            args: self.args.clone(),
            autoscaling: self.autoscaling.as_ref().map(|a| RawAutoscaling {
                min_replicas: Some(i64::from(a.min_replicas)),
                max_replicas: Some(i64::from(a.max_replicas)),
                target_cpu_percent: (!a.by_requests()).then_some(i64::from(a.target_cpu_percent)),
                target_concurrency: a.target_concurrency.map(i64::from),
                idle_seconds: a.idle_seconds.map(i64::from),
            }),
            timeout_seconds: Some(i64::from(self.timeout_seconds)),
            retry: self.retry.map(|r| RawRetry {
                max_attempts: r.max_attempts.map(i64::from),
            }),
            schedules: (!self.schedules.is_empty()).then(|| {
                self.schedules
                    .iter()
                    .map(|s| crate::schedule::RawSchedule {
                        name: Some(s.name.clone()),
                        cron: Some(s.cron.clone()),
                        time_zone: s.time_zone.clone(),
                        body: s.body.clone(),
                    })
                    .collect()
            }),
            public_invoke: self.public_invoke.then_some(true),
            secret_env: (!self.secret_env.is_empty()).then(|| self.secret_env.clone()),
            secret_files: (!self.secret_files.is_empty())
                .then(|| self.secret_files.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Every secret this function reads, once each.
    pub fn secrets(&self) -> Vec<crate::SecretName> {
        crate::secret::referenced(&self.secret_env, &self.secret_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(image: &str) -> RawFunctionSpec {
        RawFunctionSpec {
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn field_of(r: RawFunctionSpec) -> String {
        FunctionSpec::parse(r, SpecLimits::default())
            .unwrap_err()
            .field
    }

    #[test]
    fn defaults_match_the_seed() {
        let s = FunctionSpec::parse(raw("nginx:alpine"), SpecLimits::default()).unwrap();
        assert_eq!(s.replicas, 1);
        assert_eq!(s.port, 8080);
        assert_eq!(s.timeout_seconds, 30);
        assert_eq!(s.resources.requests.cpu.as_str(), "100m");
        assert_eq!(s.resources.requests.memory.as_str(), "128Mi");
        assert_eq!(s.resources.limits.cpu.as_str(), "500m");
        assert_eq!(s.resources.limits.memory.as_str(), "512Mi");
    }

    #[test]
    fn retry_attempts_are_bounded_and_kept() {
        let with = |n: i64| RawFunctionSpec {
            retry: Some(RawRetry {
                max_attempts: Some(n),
            }),
            ..raw("nginx")
        };
        let s = FunctionSpec::parse(with(7), SpecLimits::default()).unwrap();
        assert_eq!(s.retry.unwrap().max_attempts, Some(7));
        assert_eq!(
            FunctionSpec::parse(s.to_raw(), SpecLimits::default()).unwrap(),
            s
        );
        assert_eq!(field_of(with(0)), "retry.maxAttempts");
        assert_eq!(field_of(with(21)), "retry.maxAttempts");
        assert_eq!(
            FunctionSpec::parse(raw("nginx"), SpecLimits::default())
                .unwrap()
                .retry,
            None
        );
    }

    #[test]
    fn accepts_common_images() {
        for img in [
            "nginx",
            "nginx:alpine",
            "library/nginx:1.27",
            "ghcr.io/org/app:v1.2.3",
            "localhost:5000/app",
            "registry.example.com/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            FunctionSpec::parse(raw(img), SpecLimits::default()).unwrap_or_else(|e| panic!("{img}: {e}"));
        }
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(field_of(RawFunctionSpec::default()), "image");
        assert_eq!(field_of(raw("UPPER:case")), "image");
        assert_eq!(field_of(raw("UPPER/case")), "image");
        assert_eq!(field_of(raw("ghcr.io/Org/app")), "image");
        assert_eq!(field_of(raw("a b")), "image");
        assert_eq!(
            field_of(RawFunctionSpec {
                replicas: Some(-1),
                ..raw("x")
            }),
            "replicas"
        );
        assert_eq!(
            field_of(RawFunctionSpec {
                replicas: Some(21),
                ..raw("x")
            }),
            "replicas"
        );
        assert_eq!(
            field_of(RawFunctionSpec {
                port: Some(0),
                ..raw("x")
            }),
            "port"
        );
        assert_eq!(
            field_of(RawFunctionSpec {
                timeout_seconds: Some(901),
                ..raw("x")
            }),
            "timeoutSeconds"
        );
        let env = |n: &str| EnvVar {
            name: n.into(),
            value: "v".into(),
        };
        assert_eq!(
            field_of(RawFunctionSpec {
                env: Some(vec![env("A"), env("1B")]),
                ..raw("x")
            }),
            "env[1].name"
        );
        assert_eq!(
            field_of(RawFunctionSpec {
                env: Some(vec![env("A"), env("A")]),
                ..raw("x")
            }),
            "env[1].name"
        );
        let res = |rc: &str, lc: &str| RawResources {
            requests: Some(RawResourceList {
                cpu: Some(rc.into()),
                memory: None,
            }),
            limits: Some(RawResourceList {
                cpu: Some(lc.into()),
                memory: None,
            }),
        };
        assert_eq!(
            field_of(RawFunctionSpec {
                resources: Some(res("1", "500m")),
                ..raw("x")
            }),
            "resources.limits.cpu"
        );
        assert_eq!(
            field_of(RawFunctionSpec {
                resources: Some(res("lots", "1")),
                ..raw("x")
            }),
            "resources.requests.cpu"
        );
        let auto = RawAutoscaling {
            min_replicas: Some(3),
            max_replicas: Some(2),
            ..RawAutoscaling::default()
        };
        assert_eq!(
            field_of(RawFunctionSpec {
                autoscaling: Some(auto),
                ..raw("x")
            }),
            "autoscaling.maxReplicas"
        );
    }

    #[test]
    fn omitted_limit_follows_a_larger_request() {
        let r = RawFunctionSpec {
            resources: Some(RawResources {
                requests: Some(RawResourceList {
                    cpu: Some("2".into()),
                    memory: Some("1Gi".into()),
                }),
                limits: None,
            }),
            ..raw("x")
        };
        let s = FunctionSpec::parse(r, SpecLimits::default()).unwrap();
        assert_eq!(s.resources.limits.cpu.as_str(), "2");
        assert_eq!(s.resources.limits.memory.as_str(), "1Gi");
    }

    #[test]
    fn unknown_fields_are_rejected_by_serde() {
        let e =
            serde_json::from_str::<RawFunctionSpec>(r#"{"image":"x","namespace":"kube-system"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("namespace"), "{e}");
    }

    fn arb_raw() -> impl Strategy<Value = RawFunctionSpec> {
        (
            prop_oneof!["[a-z]{1,10}(:[a-z0-9.]{1,8})?", "\\PC{0,20}"],
            proptest::option::of(-5i64..40),
            proptest::option::of(proptest::collection::vec(
                ("[A-Za-z_0-9]{0,6}", "\\PC{0,10}"),
                0..5,
            )),
            proptest::option::of(-10i64..70000),
            proptest::option::of(("[0-9]{1,4}(m|Mi|Gi)?", "[0-9]{1,4}(m|Mi|Gi)?")),
        )
            .prop_map(|(image, replicas, env, port, cpu)| RawFunctionSpec {
                image: Some(image),
                replicas,
                env: env.map(|v| {
                    v.into_iter()
                        .map(|(name, value)| EnvVar { name, value })
                        .collect()
                }),
                port,
                resources: cpu.map(|(r, l)| RawResources {
                    requests: Some(RawResourceList {
                        cpu: Some(r),
                        memory: None,
                    }),
                    limits: Some(RawResourceList {
                        cpu: Some(l),
                        memory: None,
                    }),
                }),
                ..Default::default()
            })
    }

    proptest! {
        #[test]
        fn accepted_specs_keep_their_invariants(r in arb_raw()) {
            if let Ok(s) = FunctionSpec::parse(r, SpecLimits::default()) {
                prop_assert!(s.replicas <= 20);
                prop_assert!(s.port >= 1);
                prop_assert!(s.resources.limits.cpu >= s.resources.requests.cpu);
                prop_assert!(s.resources.limits.memory >= s.resources.requests.memory);
                let names: HashSet<_> = s.env.iter().map(|e| &e.name).collect();
                prop_assert_eq!(names.len(), s.env.len());
                // Re-validating the raw form of a valid spec gives the same spec.
                let again = FunctionSpec::parse(s.to_raw(), SpecLimits::default());
                prop_assert_eq!(again.as_ref(), Ok(&s));
            }
        }
    }

    #[test]
    fn scale_to_zero_is_request_based_and_checked_field_by_field() {
        let parse = |a: serde_json::Value| {
            let raw: RawFunctionSpec =
                serde_json::from_value(serde_json::json!({"image": "x", "autoscaling": a}))
                    .unwrap();
            FunctionSpec::parse(raw, SpecLimits::default())
        };
        // minReplicas 0 alone: request-based with the default target.
        let a = parse(serde_json::json!({"minReplicas": 0, "maxReplicas": 5}))
            .unwrap()
            .autoscaling
            .unwrap();
        assert_eq!((a.min_replicas, a.max_replicas), (0, 5));
        assert_eq!(a.target_concurrency, Some(DEFAULT_TARGET_CONCURRENCY));
        assert!(a.by_requests());
        assert_eq!(a.idle_seconds, None);
        // Request-based with one replica kept, and with an idle period.
        let a =
            parse(serde_json::json!({"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 3}))
                .unwrap()
                .autoscaling
                .unwrap();
        assert_eq!(a.target_concurrency, Some(3));
        let a = parse(serde_json::json!({"minReplicas": 0, "maxReplicas": 4, "idleSeconds": 30}))
            .unwrap()
            .autoscaling
            .unwrap();
        assert_eq!(a.idle_seconds, Some(30));
        // CPU-based as before.
        let a = parse(serde_json::json!({"maxReplicas": 4}))
            .unwrap()
            .autoscaling
            .unwrap();
        assert!(!a.by_requests());
        assert_eq!(
            (a.min_replicas, a.target_cpu_percent),
            (1, DEFAULT_TARGET_CPU_PERCENT)
        );
        for (bad, field) in [
            (
                serde_json::json!({"minReplicas": 0, "maxReplicas": 4, "targetCpuPercent": 50}),
                "autoscaling.minReplicas",
            ),
            (
                serde_json::json!({"maxReplicas": 4, "targetCpuPercent": 50, "targetConcurrency": 5}),
                "autoscaling.targetCpuPercent",
            ),
            (
                serde_json::json!({"maxReplicas": 4, "targetConcurrency": 0}),
                "autoscaling.targetConcurrency",
            ),
            (
                serde_json::json!({"maxReplicas": 4, "targetConcurrency": 1001}),
                "autoscaling.targetConcurrency",
            ),
            (
                serde_json::json!({"minReplicas": 1, "maxReplicas": 4, "idleSeconds": 60}),
                "autoscaling.idleSeconds",
            ),
            (
                serde_json::json!({"minReplicas": 0, "maxReplicas": 4, "idleSeconds": 5}),
                "autoscaling.idleSeconds",
            ),
            (
                serde_json::json!({"minReplicas": 0, "maxReplicas": 0}),
                "autoscaling.maxReplicas",
            ),
            (
                serde_json::json!({"minReplicas": -1, "maxReplicas": 3}),
                "autoscaling.minReplicas",
            ),
        ] {
            assert_eq!(parse(bad.clone()).unwrap_err().field, field, "{bad}");
        }
        // The raw form round-trips (a request-based spec has no CPU target).
        let spec =
            parse(serde_json::json!({"minReplicas": 0, "maxReplicas": 4, "idleSeconds": 30}))
                .unwrap();
        assert_eq!(
            FunctionSpec::parse(spec.to_raw(), SpecLimits::default()).unwrap(),
            spec
        );
    }
}
