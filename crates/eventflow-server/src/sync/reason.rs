//! Why a function is not (yet) what the catalog says: the reasons the
//! server itself gives, in one place. (Reasons after the apply, such as
//! `ImagePullBackOff`, come from the operator's conditions.)

use std::fmt;

/// A reason the server gives on a function's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncReason {
    /// Stored, waiting for the sync loop to apply it.
    Syncing,
    /// Applied; the operator has not reported status yet.
    AwaitingOperator,
    /// Kubernetes cannot be reached (or is not configured).
    ClusterUnavailable,
    /// The tenant's namespace does not exist yet.
    WaitingForNamespace,
    /// The tenant's ResourceQuota usage is not computed yet.
    QuotaPending,
    /// The tenant's function quota in the cluster is used up.
    QuotaExceeded,
    /// Kubernetes refused the resource.
    ApplyFailed,
    /// The catalog could not be read or written during the apply.
    SyncFailed,
}

impl SyncReason {
    pub const ALL: [SyncReason; 8] = [
        SyncReason::Syncing,
        SyncReason::AwaitingOperator,
        SyncReason::ClusterUnavailable,
        SyncReason::WaitingForNamespace,
        SyncReason::QuotaPending,
        SyncReason::QuotaExceeded,
        SyncReason::ApplyFailed,
        SyncReason::SyncFailed,
    ];

    /// The name shown in the API and stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncReason::Syncing => "Syncing",
            SyncReason::AwaitingOperator => "AwaitingOperator",
            SyncReason::ClusterUnavailable => "ClusterUnavailable",
            SyncReason::WaitingForNamespace => "WaitingForNamespace",
            SyncReason::QuotaPending => "QuotaPending",
            SyncReason::QuotaExceeded => "QuotaExceeded",
            SyncReason::ApplyFailed => "ApplyFailed",
            SyncReason::SyncFailed => "SyncFailed",
        }
    }

    /// The reason named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for SyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the last attempt to apply a function failed, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailure {
    pub reason: SyncReason,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_name() {
        for r in SyncReason::ALL {
            assert_eq!(SyncReason::parse(r.as_str()), Some(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        let names: std::collections::HashSet<_> =
            SyncReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), SyncReason::ALL.len(), "names are distinct");
        assert_eq!(SyncReason::parse("Running"), None);
        assert_eq!(SyncReason::parse("quotapending"), None);
    }
}
