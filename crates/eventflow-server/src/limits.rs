//! Per-tenant request rates (GCRA through `governor`): a sustained rate per
//! second with bursts of twice that. Used by the invoke gateway
//! (`--invoke-rate`) and by every other authenticated route (`--api-rate`).
//! Counted per server replica: behind a load balancer spreading requests
//! over N replicas a tenant gets up to N times the rate.

use std::num::NonZeroU32;

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Keys kept before idle ones are dropped.
const MAX_KEYS: usize = 10_000;

pub struct TenantRate {
    per_second: u32,
    limiter: DefaultKeyedRateLimiter<String>,
    /// What is counted, for the 429's message ("invocations", "requests").
    what: &'static str,
}

impl TenantRate {
    pub fn new(per_second: u32, what: &'static str) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        Self {
            per_second: rate.get(),
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            what,
        }
    }

    /// Counts one request of `key` (a tenant id, or an admin's subject):
    /// 429 with `Retry-After` when it is over the rate.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        // Keys come from callers too (the public invoke route names its
        // tenant before anything is looked up): past this many, keys whose
        // budget is full again are dropped, so memory stays bounded.
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                ApiError::TooManyRequests {
                    message: format!(
                        "{key} exceeded {} {} per second",
                        self.per_second, self.what
                    ),
                    retry_after: wait.as_secs().max(1),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::TenantRate;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_429_per_key() {
        let r = TenantRate::new(5, "requests");
        for _ in 0..10 {
            r.check("a").unwrap();
        }
        let e = r.check("a").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            e.to_string().contains("a exceeded 5 requests per second"),
            "{e}"
        );
        r.check("b").expect("other keys have their own budget");
    }

    #[test]
    fn keys_with_a_full_budget_are_dropped_past_the_bound() {
        let r = TenantRate::new(5, "requests");
        for i in 0..=super::MAX_KEYS {
            r.check(&format!("probe-{i}")).unwrap();
        }
        assert_eq!(r.limiter.len(), super::MAX_KEYS + 1);
        // Their budgets refill (one request at 5/s: 200 ms); the next check
        // past the bound sweeps them out.
        std::thread::sleep(std::time::Duration::from_millis(400));
        r.check("a").unwrap();
        assert!(r.limiter.len() <= 2, "{} keys kept", r.limiter.len());
        // A key that is being limited is kept.
        for _ in 0..11 {
            let _ = r.check("busy");
        }
        assert!(r.check("busy").is_err());
    }
}
