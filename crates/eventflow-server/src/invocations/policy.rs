//! What an attempt's result means for the invocation: pure, so every rule
//! is a unit test.

use crate::store::{InvocationStatus, Next};

/// How one attempt ended, as the retry policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The function answered 1xx–3xx.
    Succeeded,
    /// Not worth another attempt: a 4xx other than 429 from the function,
    /// or the function is gone.
    Failed,
    /// Worth another attempt: the function answered 429 or 5xx, or could
    /// not be reached, or timed out.
    Retry,
    /// The platform's own limits (the tenant's rate or concurrency, a full
    /// cold-start queue) held it back: not the function's doing, so the
    /// attempt does not count.
    Release,
}

/// The verdict on a function's HTTP answer.
pub fn on_status(status: u16) -> Verdict {
    match status {
        100..=399 => Verdict::Succeeded,
        429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Failed,
    }
}

/// The verdict on a platform error (the gateway's status for it).
pub fn on_platform_error(status: u16) -> Verdict {
    match status {
        429 => Verdict::Release,
        // 502 unreachable, 503 no ready replica, 504 timeout.
        502..=504 => Verdict::Retry,
        _ => Verdict::Failed,
    }
}

/// Exponential backoff with jitter: attempt `n` (1-based) failed, so the
/// next one waits `base × 2^(n-1)`, at most `cap`, scaled by a factor in
/// `[0.5, 1.0)` from `jitter` (in `[0, 1)`), so that invocations that
/// failed together do not come back together.
pub fn backoff_ms(n: u32, base_ms: i64, cap_ms: i64, jitter: f64) -> i64 {
    let exp = n.saturating_sub(1).min(30);
    let raw = base_ms.saturating_mul(1_i64 << exp).min(cap_ms);
    let factor = 0.5 + 0.5 * jitter.clamp(0.0, 0.999_999);
    // Truncation is intended: whole milliseconds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let ms = (raw as f64 * factor) as i64;
    ms.max(1)
}

/// What becomes of the invocation after attempt `n` of `max` ended with
/// `verdict` at `now_ms`. [`Verdict::Release`] is the caller's to handle
/// (the attempt is given back).
pub fn next(verdict: Verdict, n: u32, max: u32, now_ms: i64, delay_ms: i64) -> Next {
    match verdict {
        Verdict::Succeeded => Next::Done(InvocationStatus::Succeeded),
        Verdict::Failed => Next::Done(InvocationStatus::Failed),
        Verdict::Retry | Verdict::Release if n < max => Next::RetryAt(now_ms + delay_ms),
        Verdict::Retry | Verdict::Release => Next::Done(InvocationStatus::Dead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_by_their_status() {
        for s in [200, 201, 204, 302] {
            assert_eq!(on_status(s), Verdict::Succeeded, "{s}");
        }
        for s in [429, 500, 502, 503, 504] {
            assert_eq!(on_status(s), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 404, 409, 413, 422] {
            assert_eq!(on_status(s), Verdict::Failed, "{s}");
        }
        assert_eq!(on_platform_error(429), Verdict::Release);
        assert_eq!(on_platform_error(502), Verdict::Retry);
        assert_eq!(on_platform_error(503), Verdict::Retry);
        assert_eq!(on_platform_error(504), Verdict::Retry);
        assert_eq!(on_platform_error(404), Verdict::Failed);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_it() {
        assert_eq!(backoff_ms(1, 1000, 60_000, 0.0), 500);
        assert_eq!(backoff_ms(2, 1000, 60_000, 0.0), 1000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 0.0), 2000);
        assert_eq!(backoff_ms(20, 1000, 60_000, 0.0), 30_000);
        assert!(backoff_ms(3, 1000, 60_000, 0.999) < 4000);
        assert!(backoff_ms(3, 1000, 60_000, 0.999) > 3990);
        // Huge attempt numbers neither overflow nor pass the cap.
        assert!(backoff_ms(u32::MAX, 1000, 60_000, 0.5) <= 60_000);
    }

    #[test]
    fn retries_end_dead_after_the_last_attempt() {
        assert_eq!(next(Verdict::Retry, 1, 3, 100, 50), Next::RetryAt(150));
        assert_eq!(
            next(Verdict::Retry, 3, 3, 100, 50),
            Next::Done(InvocationStatus::Dead)
        );
        assert_eq!(
            next(Verdict::Failed, 1, 3, 100, 50),
            Next::Done(InvocationStatus::Failed)
        );
        assert_eq!(
            next(Verdict::Succeeded, 3, 3, 100, 50),
            Next::Done(InvocationStatus::Succeeded)
        );
    }
}
