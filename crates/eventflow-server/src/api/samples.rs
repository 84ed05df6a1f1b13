//! `GET /v1/samples`: the sample function images this platform offers
//! (`eventflow server --sample-image NAME=IMAGE`), so that the dashboard can
//! deploy one in a single step.

use std::{str::FromStr, sync::Arc};

use axum::{extract::State, Json};
use eventflow_core::{FunctionName, FunctionSpec, RawFunctionSpec, SpecLimits};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::Principal,
    error::{ApiResult, ErrorBody},
    AppState,
};

/// One configured sample: a function name and the image it deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleImage {
    pub name: FunctionName,
    pub image: String,
}

impl FromStr for SampleImage {
    type Err = String;

    /// `NAME=IMAGE`: NAME must be a valid function name, IMAGE a valid image
    /// reference (the same rules as for a function's `name` and `image`).
    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let (name, image) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?} is not NAME=IMAGE"))?;
        let (name, image) = (name.trim(), image.trim());
        let name = FunctionName::parse(name)
            .map_err(|e| format!("{name:?} is not a valid function name: {}", e.message))?;
        let raw = RawFunctionSpec {
            image: Some(image.to_string()),
            ..Default::default()
        };
        let spec = FunctionSpec::parse(raw, SpecLimits::default()).map_err(|e| {
            format!(
                "{image:?} (sample {name}) is not a valid image reference: {}",
                e.message
            )
        })?;
        Ok(Self {
            name,
            image: spec.image,
        })
    }
}

/// Checks that no sample name is configured twice.
pub fn check_unique(samples: &[SampleImage]) -> Result<(), String> {
    for (i, s) in samples.iter().enumerate() {
        if samples[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("sample {} is configured twice", s.name));
        }
    }
    Ok(())
}

/// What the samples that ship with EventFlow (`examples/functions/`) do.
pub fn known_description(name: &str) -> Option<&'static str> {
    match name {
        "echo" => Some("Answers the request body back; prints one log line per request"),
        "hello-rust" => Some("Says hello from a static Rust binary"),
        _ => None,
    }
}

/// A sample function image offered by this platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sample {
    /// The function name the sample is deployed under by default.
    #[schema(example = "echo")]
    pub name: String,
    #[schema(example = "127.0.0.1:26450/samples/echo:v1")]
    pub image: String,
    /// What the sample does, for the samples EventFlow knows; null otherwise.
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SampleList {
    /// In the order the server was configured with; empty when none are.
    pub items: Vec<Sample>,
}

/// The sample images this platform offers (tenant or admin token).
#[utoipa::path(get, path = "/v1/samples", tag = "samples", operation_id = "list_samples",
    responses((status = 200, body = SampleList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _auth: Principal,
) -> ApiResult<Json<SampleList>> {
    let items = state
        .config
        .samples
        .iter()
        .map(|s| Sample {
            name: s.name.to_string(),
            image: s.image.clone(),
            description: known_description(s.name.as_str()).map(str::to_string),
        })
        .collect();
    Ok(Json(SampleList { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_image() {
        let s: SampleImage = "echo=127.0.0.1:26450/samples/echo:v1".parse().unwrap();
        assert_eq!(s.name.as_str(), "echo");
        assert_eq!(s.image, "127.0.0.1:26450/samples/echo:v1");
        let s: SampleImage = " hello-rust = ghcr.io/org/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
            .parse()
            .unwrap();
        assert_eq!(s.name.as_str(), "hello-rust");
    }

    #[test]
    fn refuses_bad_entries_with_a_clear_message() {
        let e = "echo".parse::<SampleImage>().unwrap_err();
        assert!(e.contains("not NAME=IMAGE"), "{e}");
        let e = "Echo=nginx".parse::<SampleImage>().unwrap_err();
        assert!(e.contains("\"Echo\" is not a valid function name"), "{e}");
        let e = "=nginx".parse::<SampleImage>().unwrap_err();
        assert!(e.contains("not a valid function name"), "{e}");
        let e = "echo=Registry/UPPER:v1".parse::<SampleImage>().unwrap_err();
        assert!(e.contains("not a valid image reference"), "{e}");
        assert!(e.contains("lowercase"), "{e}");
        let e = "echo=".parse::<SampleImage>().unwrap_err();
        assert!(e.contains("not a valid image reference"), "{e}");
    }

    #[test]
    fn duplicates_are_refused() {
        let a: SampleImage = "echo=nginx".parse().unwrap();
        let b: SampleImage = "echo=busybox".parse().unwrap();
        assert!(check_unique(std::slice::from_ref(&a)).is_ok());
        assert_eq!(
            check_unique(&[a, b]).unwrap_err(),
            "sample echo is configured twice"
        );
    }

    #[test]
    fn known_samples_have_descriptions() {
        assert!(known_description("echo").is_some());
        assert!(known_description("hello-rust").is_some());
        assert_eq!(known_description("other"), None);
    }
}
