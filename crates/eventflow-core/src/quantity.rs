//! Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `1e3`), parsed so
//! that requests and limits can be compared. The original text is kept and is
//! what goes to Kubernetes.

use std::{cmp::Ordering, fmt};

use serde::{Deserialize, Serialize};

/// A non-negative Kubernetes quantity. `nanos` is the value in units of 1e-9,
/// which represents every suffix Kubernetes accepts exactly (up to `E`/`Ei`).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Quantity {
    text: String,
    #[serde(skip)]
    nanos: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuantityError(String);

const MAX_LEN: usize = 32;

impl Quantity {
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let bad = |why: &str| QuantityError(format!("invalid quantity {text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if text.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("expected a number"));
        }
        if frac_part.contains('.') {
            return Err(bad("more than one '.'"));
        }
        // value = digits * 10^(exp10 - frac_len) * 2^exp2, in units of 1e-9.
        let digits: String = format!("{int_part}{frac_part}");
        let mantissa: u128 = digits
            .trim_start_matches('0')
            .parse::<u128>()
            .or_else(|e| {
                if digits.chars().all(|c| c == '0') {
                    Ok(0)
                } else {
                    Err(e)
                }
            })
            .map_err(|_| bad("number too large"))?;
        let (exp10, exp2): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            s if s.starts_with(['e', 'E']) => {
                let e: i32 = s[1..].parse().map_err(|_| bad("invalid exponent"))?;
                if !(-9..=18).contains(&e) {
                    return Err(bad("exponent out of range"));
                }
                (e, 0)
            }
            _ => return Err(bad("unknown suffix")),
        };
        let frac_len = i32::try_from(frac_part.len()).map_err(|_| bad("too long"))?;
        let scale = exp10 + 9 - frac_len;
        let mut nanos = mantissa;
        if scale >= 0 {
            nanos = nanos
                .checked_mul(10u128.pow(scale.unsigned_abs()))
                .ok_or_else(|| bad("too large"))?;
        } else {
            let div = 10u128.pow(scale.unsigned_abs().min(38));
            // Kubernetes rounds sub-nano precision up.
            nanos = nanos.div_ceil(div);
        }
        nanos = nanos
            .checked_mul(1u128 << exp2)
            .ok_or_else(|| bad("too large"))?;
        Ok(Self {
            text: text.to_owned(),
            nanos,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value in units of 1e-9 (nano-cores for CPU, nano-bytes for memory).
    pub fn nanos(&self) -> u128 {
        self.nanos
    }

    /// The value in thousandths (millicores for CPU), rounded up.
    pub fn millis(&self) -> u128 {
        self.nanos.div_ceil(1_000_000)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn parses_kubernetes_forms() {
        assert_eq!(q("100m").millis(), 100);
        assert_eq!(q("0.5").millis(), 500);
        assert_eq!(q("1").millis(), 1000);
        assert_eq!(q(".1").millis(), 100);
        assert_eq!(q("128Mi").nanos(), 128 * 1024 * 1024 * 1_000_000_000);
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert!(q("500m") > q("100m"));
        assert!(q("512Mi") > q("128Mi"));
        assert!(q("1G") < q("1Gi"));
        assert_eq!(q("0").nanos(), 0);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "-1", "1.2.3", "abc", "1Xi", "m", "1e99", "1 Gi", "+1", ".", "1e",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Quantity::parse(&s);
        }

        #[test]
        fn binary_suffix_orders_like_integers(a in 0u64..1_000_000, b in 0u64..1_000_000) {
            let (qa, qb) = (q(&format!("{a}Mi")), q(&format!("{b}Ki")));
            prop_assert_eq!(qa.cmp(&qb), (a * 1024).cmp(&b));
        }
    }
}
