//! Image references (`[host[:port]/]path[:tag][@digest]`), checked against
//! the grammar of the distribution project's `reference` package, which
//! registries and container runtimes use.
//!
//! The grammar is composed below from its named parts and compiled once
//! with the `regex` crate, ASCII only. oci-spec's parser (used before) does
//! the same with one pattern whose tag part is `[\w][\w.-]{0,127}` with
//! Unicode classes: compiling that took about 18 MiB of heap in every
//! process that validated a spec (server and operator) for the process's
//! life. In the grammar `\w` is ASCII (Go's RE2), so this accepts the same
//! references; a property test in `tests` checks that against oci-spec on
//! ASCII inputs.

use std::sync::OnceLock;

use regex::Regex;

/// Longest repository path (the name without its host), as in the grammar.
pub const MAX_PATH_LEN: usize = 255;

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    Format,
    #[error("repository name must not be more than {MAX_PATH_LEN} characters")]
    PathTooLong,
    #[error("unsupported digest algorithm")]
    DigestAlgorithm,
    #[error("invalid checksum digest length")]
    DigestLength,
}

fn grammar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A host name component: alphanumerics, inner hyphens.
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
        // A path component: lowercase alphanumerics, joined by one `.` or
        // `_`, two `_`, or any number of `-`.
        let path_component = "[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*";
        let path = format!("{path_component}(?:/{path_component})*");
        let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}";
        let pattern = format!(
            "^(?:(?P<domain>{domain})/)?(?P<path>{path})(?::(?P<tag>{tag}))?(?:@(?P<digest>{digest}))?$"
        );
        Regex::new(&pattern).expect("the reference grammar compiles")
    })
}

/// Checks `s` as an image reference. A first component that is not a host
/// (no `.` or `:`, not `localhost`, or not followed by `/`) belongs to the
/// path, as Docker reads it.
pub fn check(s: &str) -> Result<(), ReferenceError> {
    let caps = grammar().captures(s).ok_or(ReferenceError::Format)?;
    let domain = caps.name("domain").map_or("", |m| m.as_str());
    let path = caps.name("path").map_or("", |m| m.as_str());
    let is_host = domain.contains(['.', ':']) || domain == "localhost";
    let path_len = if domain.is_empty() || is_host {
        path.len()
    } else {
        domain.len() + 1 + path.len()
    };
    if path_len > MAX_PATH_LEN {
        return Err(ReferenceError::PathTooLong);
    }
    if let Some(digest) = caps.name("digest") {
        let (algorithm, hex) = digest
            .as_str()
            .split_once(':')
            .ok_or(ReferenceError::Format)?;
        let want = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(ReferenceError::DigestAlgorithm),
        };
        if hex.len() != want {
            return Err(ReferenceError::DigestLength);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_references_registries_serve() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for ok in [
            "nginx",
            "nginx:1.27-alpine",
            "library/nginx:latest",
            "ghcr.io/acme/hello:1",
            "localhost:5000/samples/echo:v1",
            "127.0.0.1:5000/a/b/c",
            "registry.example/team/app__x:v_1.2-rc",
            "a-b---c/d.e_f",
            &format!("ghcr.io/acme/hello@{digest}"),
            &format!("ghcr.io/acme/hello:1@{digest}"),
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_the_grammar_does_not_have() {
        for (bad, why) in [
            ("", ReferenceError::Format),
            ("Nginx", ReferenceError::Format),
            ("ghcr.io/Acme/hello", ReferenceError::Format),
            ("nginx:", ReferenceError::Format),
            ("nginx:-x", ReferenceError::Format),
            ("nginx:ünïcode", ReferenceError::Format),
            ("a//b", ReferenceError::Format),
            ("a/b/", ReferenceError::Format),
            ("-a", ReferenceError::Format),
            ("a__-b", ReferenceError::Format),
            ("host:port/x", ReferenceError::Format),
            ("nginx@sha256:abc", ReferenceError::Format),
            (
                &format!("nginx@md5:{}", "a".repeat(32)),
                ReferenceError::DigestAlgorithm,
            ),
            (
                &format!("nginx@sha256:{}", "a".repeat(63 + 2)),
                ReferenceError::DigestLength,
            ),
            (&"a".repeat(256), ReferenceError::PathTooLong),
            (
                &format!("nginx:{}", "t".repeat(129)),
                ReferenceError::Format,
            ),
        ] {
            assert_eq!(check(bad), Err(why.clone()), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4000))]

        /// On ASCII strings built from the grammar's characters, this check
        /// and oci-spec's parser (what the grammar was checked with before)
        /// accept exactly the same references.
        #[test]
        fn agrees_with_oci_spec_on_ascii(
            s in "([a-zA-Z0-9]{1,4}([.:_/@-]{1,2}|__)?){1,6}(:[a-zA-Z0-9_.-]{0,6})?(@sha256:[0-9a-f]{64})?|([A-Za-z0-9.-]{1,8}(:[0-9]{1,5})?/)?([a-z0-9]{1,4}([._/-]{1,2}|__)?){1,6}(:[a-zA-Z0-9_.-]{0,6})?(@sha(256|512):[0-9a-f]{62,65})?"
        ) {
            let theirs = s.parse::<oci_spec::distribution::Reference>().is_ok();
            proptest::prop_assert_eq!(check(&s).is_ok(), theirs, "{}", s);
        }
    }
}
