//! The scaling decision for one function: pure, so every rule is a unit
//! test.
//!
//! 1. **Recommendation** from the load summed over all server replicas:
//!    `ceil(inFlight / targetConcurrency)`; with nothing in flight, one
//!    replica until the function has been idle for its idle period, then
//!    zero (only with `minReplicas` 0).
//! 2. **Bounds**: at least `minReplicas`, at most `maxReplicas` (the reason
//!    says when the maximum holds it back).
//! 3. **Stabilisation**: up at once; down only to the highest
//!    recommendation of the last window (like the HPA's scale-down
//!    stabilisation), so a short lull does not remove replicas that the
//!    next burst needs. Going to zero is not delayed again: the idle period
//!    is its stabilisation.
//! 4. **The tenant's limits** ([`cap`]): never above the tenant's current
//!    max-replica limit, and never more new pods than its ResourceQuota
//!    has room for ([`quota_room`]); the reason says which one held it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// What the decision sees of one function at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    pub now_ms: i64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_concurrency: u32,
    /// In flight now, over all server replicas.
    pub in_flight: u32,
    /// Since when the function counts as active: its last request, or
    /// when it was last changed or the scaler started watching it, whichever
    /// is latest.
    pub active_since_ms: i64,
    pub idle_ms: i64,
}

/// Why the scaler chose a replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// In-flight requests (or recent ones) need this many.
    Load,
    /// No request for the idle period: zero.
    Idle,
    /// Held up by `minReplicas`.
    MinReplicas,
    /// The load asks for more than `maxReplicas`.
    MaxReplicas,
    /// Held up by the stabilisation window after the load fell.
    Stabilising,
    /// The tenant's max-replica limit (lowered since the function was
    /// deployed) holds it below what the load asks for.
    TenantMaxReplicas,
    /// The tenant's ResourceQuota has no room for more pods of it.
    Quota,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Load => "Load",
            Reason::Idle => "Idle",
            Reason::MinReplicas => "MinReplicas",
            Reason::MaxReplicas => "MaxReplicas",
            Reason::Stabilising => "Stabilising",
            Reason::TenantMaxReplicas => "TenantMaxReplicas",
            Reason::Quota => "Quota",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Steps 1 and 2: the bounded recommendation and why.
pub fn recommend(i: &Inputs) -> (u32, Reason) {
    let target = i.target_concurrency.max(1);
    let (wanted, reason) = if i.in_flight > 0 {
        (i.in_flight.div_ceil(target), Reason::Load)
    } else if i.now_ms.saturating_sub(i.active_since_ms) < i.idle_ms {
        (1, Reason::Load)
    } else {
        (0, Reason::Idle)
    };
    if wanted > i.max_replicas {
        (i.max_replicas, Reason::MaxReplicas)
    } else if wanted < i.min_replicas {
        (i.min_replicas, Reason::MinReplicas)
    } else {
        (wanted, reason)
    }
}

/// Step 3: the recommendations of the last window, per function.
#[derive(Debug, Default, Clone)]
pub struct Stabiliser {
    history: VecDeque<(i64, u32)>,
}

impl Stabiliser {
    /// The replicas to set now, given the current count, and why.
    pub fn decide(&mut self, i: &Inputs, current: u32, window_ms: i64) -> (u32, Reason) {
        let (rec, reason) = recommend(i);
        self.history.push_back((i.now_ms, rec));
        while self
            .history
            .front()
            .is_some_and(|(t, _)| i.now_ms.saturating_sub(*t) > window_ms)
        {
            self.history.pop_front();
        }
        if rec >= current || reason == Reason::Idle {
            return (rec, reason);
        }
        let held = self.history.iter().map(|(_, r)| *r).max().unwrap_or(rec);
        if held > rec {
            (held.min(current), Reason::Stabilising)
        } else {
            (rec, reason)
        }
    }
}

/// Whether this round leaves the function alone because the activator is
/// bringing it up from zero: every call in flight at zero waits in an
/// activator, which raises the Deployment to one itself and times the cold
/// start. Raising it here as well would race that (the activator would find
/// replicas it did not ask for and not count a cold start); the next round
/// after the wake scales past one.
pub fn activator_wakes(current: u32, in_flight: u32) -> bool {
    current == 0 && in_flight > 0
}

/// Step 4: `desired` within the tenant's limits. `quota_room` is how many
/// more pods of this function the tenant's quota admits (`None`: not
/// known, so not limited here; the quota itself still refuses the pods).
/// Scaling down is never held back by a quota.
pub fn cap(
    (desired, reason): (u32, Reason),
    current: u32,
    tenant_max: u32,
    quota_room: Option<u32>,
) -> (u32, Reason) {
    let (mut desired, mut reason) = (desired, reason);
    if desired > tenant_max {
        (desired, reason) = (tenant_max, Reason::TenantMaxReplicas);
    }
    if let Some(room) = quota_room {
        let most = current.saturating_add(room);
        if desired > current && desired > most {
            (desired, reason) = (most, Reason::Quota);
        }
    }
    (desired, reason)
}

/// How many more pods, each asking `per_pod` (resource name → amount in
/// nanos, e.g. `requests.cpu`), fit in a quota with `hard` limits of which
/// `used` is taken. A resource the quota does not limit does not count; a
/// resource over its limit leaves no room.
pub fn quota_room(
    hard: &BTreeMap<String, u128>,
    used: &BTreeMap<String, u128>,
    per_pod: &[(&str, u128)],
) -> Option<u32> {
    let mut room: Option<u128> = None;
    for (resource, each) in per_pod {
        let Some(limit) = hard.get(*resource) else {
            continue;
        };
        if *each == 0 {
            continue;
        }
        let left = limit.saturating_sub(used.get(*resource).copied().unwrap_or(0));
        let fits = left / each;
        room = Some(room.map_or(fits, |r| r.min(fits)));
    }
    room.map(|r| u32::try_from(r).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(in_flight: u32, idle_for_ms: i64) -> Inputs {
        Inputs {
            now_ms: 1_000_000,
            min_replicas: 0,
            max_replicas: 10,
            target_concurrency: 4,
            in_flight,
            active_since_ms: 1_000_000 - idle_for_ms,
            idle_ms: 60_000,
        }
    }

    #[test]
    fn calls_in_flight_at_zero_are_left_to_the_activator() {
        assert!(activator_wakes(0, 1));
        assert!(activator_wakes(0, 50));
        // Nothing waits: the scaler decides (e.g. minReplicas raised).
        assert!(!activator_wakes(0, 0));
        // Up from one is the scaler's again.
        assert!(!activator_wakes(1, 50));
    }

    #[test]
    fn the_recommendation_follows_in_flight_requests_per_replica() {
        assert_eq!(recommend(&inputs(1, 0)), (1, Reason::Load));
        assert_eq!(recommend(&inputs(4, 0)), (1, Reason::Load));
        assert_eq!(recommend(&inputs(5, 0)), (2, Reason::Load));
        assert_eq!(recommend(&inputs(40, 0)), (10, Reason::Load));
        assert_eq!(recommend(&inputs(41, 0)), (10, Reason::MaxReplicas));
        assert_eq!(recommend(&inputs(1000, 0)), (10, Reason::MaxReplicas));
    }

    #[test]
    fn idle_functions_go_to_zero_only_after_the_idle_period_and_with_min_zero() {
        assert_eq!(recommend(&inputs(0, 59_999)), (1, Reason::Load));
        assert_eq!(recommend(&inputs(0, 60_000)), (0, Reason::Idle));
        let kept = Inputs {
            min_replicas: 2,
            ..inputs(0, 600_000)
        };
        assert_eq!(recommend(&kept), (2, Reason::MinReplicas));
        // In flight counts even when the last request started long ago.
        assert_eq!(recommend(&inputs(3, 600_000)), (1, Reason::Load));
    }

    #[test]
    fn up_at_once_down_only_after_the_window() {
        let window = 30_000;
        let mut s = Stabiliser::default();
        let at = |t: i64, in_flight: u32| Inputs {
            now_ms: t,
            active_since_ms: t,
            ..inputs(in_flight, 0)
        };
        assert_eq!(s.decide(&at(0, 20), 1, window), (5, Reason::Load));
        // The burst is over: held at 5 for the window.
        assert_eq!(s.decide(&at(1_000, 2), 5, window), (5, Reason::Stabilising));
        assert_eq!(
            s.decide(&at(29_000, 2), 5, window),
            (5, Reason::Stabilising)
        );
        // A smaller burst inside the window changes nothing either.
        assert_eq!(
            s.decide(&at(29_500, 8), 5, window),
            (5, Reason::Stabilising)
        );
        // The 5 has left the window; the 2 of 29.5 s is the highest left.
        assert_eq!(
            s.decide(&at(31_000, 2), 5, window),
            (2, Reason::Stabilising)
        );
        assert_eq!(s.decide(&at(60_000, 2), 2, window), (1, Reason::Load));
        // Going up again is immediate.
        assert_eq!(s.decide(&at(60_500, 40), 1, window), (10, Reason::Load));
    }

    #[test]
    fn zero_is_not_delayed_by_the_window() {
        let mut s = Stabiliser::default();
        let busy = Inputs {
            now_ms: 0,
            active_since_ms: 0,
            ..inputs(8, 0)
        };
        assert_eq!(s.decide(&busy, 0, 30_000), (2, Reason::Load));
        let idle = Inputs {
            now_ms: 61_000,
            active_since_ms: 0,
            ..inputs(0, 0)
        };
        assert_eq!(s.decide(&idle, 2, 300_000), (0, Reason::Idle));
    }

    #[test]
    fn the_stabiliser_never_raises_above_the_current_count_on_the_way_down() {
        let mut s = Stabiliser::default();
        let at = |t: i64, in_flight: u32| Inputs {
            now_ms: t,
            active_since_ms: t,
            ..inputs(in_flight, 0)
        };
        s.decide(&at(0, 40), 1, 30_000);
        // Someone scaled it to 3 meanwhile; a lull keeps 3, not 10.
        assert_eq!(s.decide(&at(1_000, 1), 3, 30_000), (3, Reason::Stabilising));
    }

    #[test]
    fn the_tenants_limits_hold_back_scaling_up_and_say_so() {
        // Within every limit: unchanged.
        assert_eq!(cap((5, Reason::Load), 2, 10, Some(8)), (5, Reason::Load));
        // The tenant's max-replica limit was lowered to 4.
        assert_eq!(
            cap((5, Reason::Load), 2, 4, None),
            (4, Reason::TenantMaxReplicas)
        );
        // ... also below the current count.
        assert_eq!(
            cap((6, Reason::Stabilising), 6, 4, Some(0)),
            (4, Reason::TenantMaxReplicas)
        );
        // Room for one more pod only.
        assert_eq!(cap((5, Reason::Load), 2, 10, Some(1)), (3, Reason::Quota));
        // A full quota keeps the count, and a function at zero stays there.
        assert_eq!(cap((5, Reason::Load), 2, 10, Some(0)), (2, Reason::Quota));
        assert_eq!(cap((1, Reason::Load), 0, 10, Some(0)), (0, Reason::Quota));
        // Scaling down is never held by the quota.
        assert_eq!(cap((1, Reason::Load), 3, 10, Some(0)), (1, Reason::Load));
        assert_eq!(cap((0, Reason::Idle), 3, 10, Some(0)), (0, Reason::Idle));
    }

    #[test]
    fn quota_room_is_the_scarcest_resource() {
        const G: u128 = 1_000_000_000;
        let map = |v: &[(&str, u128)]| {
            v.iter()
                .map(|(k, n)| ((*k).to_string(), *n))
                .collect::<BTreeMap<_, _>>()
        };
        let hard = map(&[("pods", 10 * G), ("requests.cpu", 2 * G)]);
        let used = map(&[("pods", 4 * G), ("requests.cpu", G)]);
        // 6 pods left, but only 1 CPU: 4 pods of 250m.
        let per_pod = [("pods", G), ("requests.cpu", G / 4), ("limits.cpu", G)];
        assert_eq!(quota_room(&hard, &used, &per_pod), Some(4));
        // Over the limit (the quota was lowered): no room, not a panic.
        let used = map(&[("pods", 12 * G)]);
        assert_eq!(quota_room(&hard, &used, &per_pod), Some(0));
        // No limit on what the pods ask for: not known.
        assert_eq!(quota_room(&BTreeMap::new(), &used, &per_pod), None);
    }
}
