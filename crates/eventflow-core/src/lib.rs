//! EventFlow's domain: identifiers and function specifications, validated once
//! at the edge ("parse, don't validate"). Everything here is pure: no I/O, no
//! Kubernetes or HTTP types. Deeper layers take these types and never re-check.

mod error;
mod ids;
pub mod image_ref;
pub mod quantity;
pub mod registry;
pub mod schedule;
pub mod secret;
pub mod spec;
pub mod tenant;

pub use error::ValidationError;
pub use ids::{
    FunctionName, SecretName, TenantId, FUNCTION_NAME_MAX, SECRET_NAME_MAX, TENANT_ID_MAX,
};
pub use quantity::Quantity;
pub use registry::{RegistryHost, RegistryLogin, MAX_REGISTRY_CREDENTIALS};
pub use schedule::{RawSchedule, Schedule, MAX_SCHEDULES, MAX_SCHEDULE_BODY};
pub use secret::{SecretData, SecretEnvVar, MAX_SECRETS};
pub use spec::{
    Autoscaling, EnvVar, FunctionSpec, RawAutoscaling, RawFunctionSpec, RawResources, RawRetry,
    ResourceList, Resources, Retry, SpecLimits, MAX_ATTEMPTS,
};
pub use tenant::{check_fits_quota, QuotaSpec, TenantLimits};
