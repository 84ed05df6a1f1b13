//! Where function pods may be scheduled: the typed values of the operator's
//! `--pod-toleration KEY[=VALUE]:EFFECT` and `--pod-node-selector KEY=VALUE`
//! flags, parsed with the API server's rules for taint and label keys and
//! values, so that a typo fails at start-up instead of in every Deployment.
//!
//! Only the cluster operator sets these (they are operator flags); nothing a
//! tenant controls reaches a toleration or a node selector.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::Toleration;

/// Why a `--pod-toleration` or `--pod-node-selector` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?}: {reason}")]
pub struct PlacementError {
    /// The value as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PlacementError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// The effect of the taints a toleration matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    /// Every effect, in the spelling Kubernetes uses.
    pub const ALL: [TaintEffect; 3] = [
        TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

impl fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A toleration every function pod gets: `KEY=VALUE:EFFECT` tolerates the
/// taint with that key, value and effect (operator `Equal`); `KEY:EFFECT`
/// tolerates every taint with that key and effect, whatever its value
/// (operator `Exists`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodToleration {
    key: String,
    value: Option<String>,
    effect: TaintEffect,
}

impl PodToleration {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `None`: any value (operator `Exists`).
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    pub fn effect(&self) -> TaintEffect {
        self.effect
    }

    /// The toleration in a pod spec.
    pub fn to_k8s(&self) -> Toleration {
        Toleration {
            key: Some(self.key.clone()),
            operator: Some(
                if self.value.is_some() {
                    "Equal"
                } else {
                    "Exists"
                }
                .into(),
            ),
            value: self.value.clone(),
            effect: Some(self.effect.as_str().into()),
            toleration_seconds: None,
        }
    }
}

/// `KEY[=VALUE]:EFFECT`, e.g. `dedicated=functions:NoSchedule`.
impl FromStr for PodToleration {
    type Err = PlacementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PlacementError::new(s, reason);
        // Neither keys nor values may contain ':', so the last one separates
        // the effect; a stray one lands in the key and is reported there.
        let Some((taint, effect)) = s.rsplit_once(':') else {
            return Err(err(
                "expected KEY[=VALUE]:EFFECT, e.g. dedicated=functions:NoSchedule".into(),
            ));
        };
        let effect = TaintEffect::ALL
            .into_iter()
            .find(|e| e.as_str() == effect)
            .ok_or_else(|| {
                err(format!(
                    "effect {effect:?} is not one of {}",
                    TaintEffect::ALL.map(TaintEffect::as_str).join(", ")
                ))
            })?;
        let (key, value) = match taint.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (taint, None),
        };
        check_qualified_name(key).map_err(|r| err(format!("key {key:?}: {r}")))?;
        if let Some(v) = value {
            check_label_value(v).map_err(|r| err(format!("value {v:?}: {r}")))?;
        }
        Ok(Self {
            key: key.to_string(),
            value: value.map(str::to_string),
            effect,
        })
    }
}

/// The flag form: parses back to an equal value.
impl fmt::Display for PodToleration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}:{}", self.key, self.effect),
            None => write!(f, "{}:{}", self.key, self.effect),
        }
    }
}

/// A node label function pods require (`nodeSelector`), `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeSelectorLabel {
    key: String,
    value: String,
}

impl NodeSelectorLabel {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// `KEY=VALUE`, e.g. `eventflow.io/pool=functions`.
impl FromStr for NodeSelectorLabel {
    type Err = PlacementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PlacementError::new(s, reason);
        let Some((key, value)) = s.split_once('=') else {
            return Err(err(
                "expected KEY=VALUE, e.g. eventflow.io/pool=functions".into()
            ));
        };
        check_qualified_name(key).map_err(|r| err(format!("key {key:?}: {r}")))?;
        check_label_value(value).map_err(|r| err(format!("value {value:?}: {r}")))?;
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// The flag form: parses back to an equal value.
impl fmt::Display for NodeSelectorLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The node selector of the given labels. A key given twice must have the
/// same value both times (a node cannot carry two).
pub fn node_selector(
    labels: &[NodeSelectorLabel],
) -> Result<BTreeMap<String, String>, PlacementError> {
    let mut map = BTreeMap::new();
    for l in labels {
        match map.insert(l.key.clone(), l.value.clone()) {
            Some(previous) if previous != l.value => {
                return Err(PlacementError::new(
                    &l.to_string(),
                    format!(
                        "node label {:?} is already required to be {previous:?}",
                        l.key
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(map)
}

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters: the
/// name part of a label or taint key, and a label or taint value when not
/// empty.
fn check_name_part(s: &str) -> Result<(), String> {
    if s.len() > NAME_MAX {
        return Err(format!("longer than {NAME_MAX} characters"));
    }
    let ok_chars = s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'));
    let ok_ends = s.starts_with(alnum) && s.ends_with(alnum);
    if !ok_chars || !ok_ends {
        return Err(
            "must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// A lowercase DNS subdomain (RFC 1123), at most 253 characters: the
/// optional prefix of a key.
fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > PREFIX_MAX {
        return Err(format!("prefix longer than {PREFIX_MAX} characters"));
    }
    let ok = s.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !ok {
        return Err(format!(
            "prefix {s:?} must be a lowercase DNS subdomain (e.g. example.com)"
        ));
    }
    Ok(())
}

/// A label or taint key: `[PREFIX/]NAME` (Kubernetes' "qualified name").
fn check_qualified_name(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_dns_subdomain(prefix)?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err("has no name after the prefix".into());
    }
    check_name_part(name)
}

/// A label or taint value: empty, or like a key's name part.
fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(s: &str) -> Result<PodToleration, PlacementError> {
        s.parse()
    }

    fn label(s: &str) -> Result<NodeSelectorLabel, PlacementError> {
        s.parse()
    }

    #[test]
    fn toleration_with_value_is_equal() {
        let t = tol("kwok.x-k8s.io/node=fake:NoSchedule").unwrap();
        assert_eq!(t.key(), "kwok.x-k8s.io/node");
        assert_eq!(t.value(), Some("fake"));
        assert_eq!(t.effect(), TaintEffect::NoSchedule);
        assert_eq!(
            t.to_k8s(),
            Toleration {
                key: Some("kwok.x-k8s.io/node".into()),
                operator: Some("Equal".into()),
                value: Some("fake".into()),
                effect: Some("NoSchedule".into()),
                toleration_seconds: None,
            }
        );
    }

    #[test]
    fn toleration_without_value_is_exists() {
        let t = tol("dedicated:NoExecute").unwrap();
        assert_eq!(t.value(), None);
        let k = t.to_k8s();
        assert_eq!(k.operator.as_deref(), Some("Exists"));
        assert_eq!(k.value, None);
        assert_eq!(k.effect.as_deref(), Some("NoExecute"));
    }

    #[test]
    fn toleration_with_empty_value_matches_an_empty_taint_value() {
        let t = tol("dedicated=:PreferNoSchedule").unwrap();
        assert_eq!(t.value(), Some(""));
        assert_eq!(t.to_k8s().operator.as_deref(), Some("Equal"));
    }

    #[test]
    fn tolerations_and_labels_display_as_they_parse() {
        for s in [
            "kwok.x-k8s.io/node=fake:NoSchedule",
            "dedicated:NoExecute",
            "a=:PreferNoSchedule",
        ] {
            assert_eq!(tol(s).unwrap().to_string(), s);
        }
        for s in ["type=kwok", "example.com/pool=", "A_b.c-D=x.Y_z-1"] {
            assert_eq!(label(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_tolerations_say_what_is_wrong() {
        let cases = [
            ("dedicated=functions", "expected KEY[=VALUE]:EFFECT"),
            ("dedicated", "expected KEY[=VALUE]:EFFECT"),
            (
                "dedicated=functions:noschedule",
                "effect \"noschedule\" is not one of NoSchedule, PreferNoSchedule, NoExecute",
            ),
            ("dedicated=functions:", "effect \"\" is not one of"),
            ("=functions:NoSchedule", "key \"\": is empty"),
            (":NoSchedule", "key \"\": is empty"),
            ("a:b:NoSchedule", "key \"a:b\": must consist of"),
            ("-x:NoSchedule", "key \"-x\": must consist of"),
            ("Example.com/x:NoSchedule", "lowercase DNS subdomain"),
            ("example.com/:NoSchedule", "has no name after the prefix"),
            ("a/b/c:NoSchedule", "key \"a/b/c\": must consist of"),
            (
                "k=has space:NoSchedule",
                "value \"has space\": must consist of",
            ),
            ("k=a=b:NoSchedule", "value \"a=b\": must consist of"),
        ];
        for (input, expected) in cases {
            let e = tol(input).unwrap_err();
            assert_eq!(e.input, input);
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("{input:?}: ")) && text.contains(expected),
                "{input}: {text}"
            );
        }
        let long = format!("k={}:NoSchedule", "v".repeat(64));
        assert!(tol(&long)
            .unwrap_err()
            .reason
            .contains("longer than 63 characters"));
        let long_key = format!("{}:NoSchedule", "k".repeat(64));
        assert!(tol(&long_key).is_err());
        assert!(tol(&format!("{}:NoSchedule", "k".repeat(63))).is_ok());
    }

    #[test]
    fn bad_node_selector_labels_say_what_is_wrong() {
        let cases = [
            ("type", "expected KEY=VALUE"),
            ("=kwok", "key \"\": is empty"),
            ("type=kw ok", "value \"kw ok\": must consist of"),
            ("type=kwok,", "value \"kwok,\": must consist of"),
            ("UPPER.example/x=1", "lowercase DNS subdomain"),
        ];
        for (input, expected) in cases {
            let text = label(input).unwrap_err().to_string();
            assert!(text.contains(expected), "{input}: {text}");
        }
    }

    #[test]
    fn node_selector_refuses_contradicting_labels() {
        let ok = node_selector(&[label("type=kwok").unwrap(), label("type=kwok").unwrap()]);
        assert_eq!(
            ok.unwrap(),
            BTreeMap::from([("type".to_string(), "kwok".to_string())])
        );
        let e =
            node_selector(&[label("type=kwok").unwrap(), label("type=real").unwrap()]).unwrap_err();
        assert_eq!(e.input, "type=real");
        assert!(e.reason.contains("already required to be \"kwok\""), "{e}");
    }
}
