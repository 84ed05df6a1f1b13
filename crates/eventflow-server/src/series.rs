//! The embedded time-series store: what this server replica's gateway saw
//! of each function, kept in memory for the tenant-facing metrics API when
//! no Prometheus is configured (`make run`, single-machine installs).
//!
//! Two tiers per function: [`FINE`] buckets (10 s) for the last
//! [`FINE_KEEP`] (1 h) and [`COARSE`] buckets (5 min) for the last
//! [`COARSE_KEEP`] (24 h). A bucket holds calls by outcome, a latency
//! histogram (the gateway's Prometheus buckets), the most requests in
//! flight at once, cold starts with their total duration, and the replicas
//! the sampler ([`crate::sampler`]) read from the function's status every
//! 10 s (most asked for, most ready, ready replica-seconds). Only buckets
//! that saw something exist, so memory is bounded by
//! [`MAX_BYTES_PER_FUNCTION`] per function whatever the traffic; a function
//! with no calls in 24 h holds nothing. Each replica keeps what it served:
//! behind several replicas, point the API at Prometheus instead.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use eventflow_core::{FunctionName, TenantId};

/// Fine buckets' width, seconds.
pub const FINE: i64 = 10;
/// Coarse buckets' width, seconds.
pub const COARSE: i64 = 300;
/// How far back the fine tier reaches, seconds.
pub const FINE_KEEP: i64 = 3600;
/// How far back the coarse tier reaches, seconds.
pub const COARSE_KEEP: i64 = 24 * 3600;
/// Upper bounds (seconds) of the latency histogram's buckets (the last is
/// everything slower), as the gateway's Prometheus histogram.
pub const LATENCY_BOUNDS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Outcomes calls are counted by, as the API names them.
pub const OUTCOMES: [&str; 7] = ["2xx", "4xx", "429", "5xx", "503", "504", "other"];

/// What one bucket of one function holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub calls: [u32; OUTCOMES.len()],
    pub latency: [u32; LATENCY_BOUNDS.len() + 1],
    pub in_flight_max: u32,
    pub cold_starts: u32,
    pub cold_start_ms: u64,
    /// The most replicas asked for (the function's status) at a sample.
    pub replicas_max: u16,
    /// The most ready replicas at a sample.
    pub ready_max: u16,
    /// Ready replicas times the seconds each sample stands for.
    pub ready_seconds: u32,
}

/// The most memory one function's series can take: every bucket of both
/// tiers present.
pub const MAX_BYTES_PER_FUNCTION: usize = ((FINE_KEEP / FINE + COARSE_KEEP / COARSE) as usize)
    * std::mem::size_of::<(i64, Bucket)>()
    + std::mem::size_of::<FunctionSeries>();

impl Bucket {
    /// Adds `o` into this bucket (the most in flight is the larger).
    pub fn add(&mut self, o: &Bucket) {
        for (a, b) in self.calls.iter_mut().zip(o.calls) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.latency.iter_mut().zip(o.latency) {
            *a = a.saturating_add(b);
        }
        self.in_flight_max = self.in_flight_max.max(o.in_flight_max);
        self.cold_starts = self.cold_starts.saturating_add(o.cold_starts);
        self.cold_start_ms = self.cold_start_ms.saturating_add(o.cold_start_ms);
        self.replicas_max = self.replicas_max.max(o.replicas_max);
        self.ready_max = self.ready_max.max(o.ready_max);
        self.ready_seconds = self.ready_seconds.saturating_add(o.ready_seconds);
    }

    /// The `q` quantile (0–1) of the latency in seconds, interpolated in
    /// its histogram bucket as Prometheus' `histogram_quantile` does; the
    /// slowest bucket answers its lower bound. `None` without calls.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &n) in self.latency.iter().enumerate() {
            let before = seen;
            seen += u64::from(n);
            if (seen as f64) >= rank && n > 0 {
                let lower = if i == 0 { 0.0 } else { LATENCY_BOUNDS[i - 1] };
                let Some(&upper) = LATENCY_BOUNDS.get(i) else {
                    return Some(lower);
                };
                let within = (rank - before as f64) / f64::from(n);
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
        }
        Some(LATENCY_BOUNDS[LATENCY_BOUNDS.len() - 1])
    }

    pub fn total_calls(&self) -> u64 {
        self.calls.iter().map(|&n| u64::from(n)).sum()
    }
}

/// The outcome an HTTP status is counted under.
pub fn outcome(status: u16) -> usize {
    match status {
        429 => 2,
        503 => 4,
        504 => 5,
        200..=399 => 0,
        400..=499 => 1,
        500..=599 => 3,
        _ => 6,
    }
}

fn latency_bucket(seconds: f64) -> usize {
    LATENCY_BOUNDS
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(LATENCY_BOUNDS.len())
}

#[derive(Debug, Default)]
struct FunctionSeries {
    fine: VecDeque<(i64, Bucket)>,
    coarse: VecDeque<(i64, Bucket)>,
}

/// The bucket of `tier` (buckets `width` seconds wide, kept for `keep`
/// seconds) that covers `at_s`, made if need be; older buckets go.
fn bucket_at(tier: &mut VecDeque<(i64, Bucket)>, at_s: i64, width: i64, keep: i64) -> &mut Bucket {
    let start = at_s - at_s.rem_euclid(width);
    while tier.front().is_some_and(|(t, _)| *t <= start - keep) {
        tier.pop_front();
    }
    if tier.back().is_none_or(|(t, _)| *t < start) {
        // Grown by hand, up to exactly the tier's number of buckets (the
        // default doubling would reach the next power of two).
        if tier.len() == tier.capacity() {
            let most = usize::try_from(keep / width).unwrap_or(1);
            let want = (tier.capacity() * 2).clamp(4, most.max(tier.len() + 1));
            tier.reserve_exact(want - tier.len());
        }
        tier.push_back((start, Bucket::default()));
    }
    // Samples arrive in time order but for clock steps: a late sample goes
    // to the bucket that covers it, or the oldest kept one.
    let i = tier.iter().rposition(|(t, _)| *t <= start).unwrap_or(0);
    &mut tier[i].1
}

impl FunctionSeries {
    fn record(&mut self, at_s: i64, f: impl Fn(&mut Bucket)) {
        f(bucket_at(&mut self.fine, at_s, FINE, FINE_KEEP));
        f(bucket_at(&mut self.coarse, at_s, COARSE, COARSE_KEEP));
    }
}

/// One point of a queried series: the bucket covering `[start, start + step)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub start: i64,
    pub bucket: Bucket,
}

/// The store of every function this replica served.
#[derive(Debug, Default)]
pub struct Series {
    /// By tenant, then function: looked up by `&str` without allocating.
    functions: Mutex<HashMap<TenantId, HashMap<FunctionName, FunctionSeries>>>,
    /// Calls that reached a function per tenant since the usage was last
    /// taken ([`Series::take_invocations`]).
    invocations: Mutex<HashMap<TenantId, i64>>,
    /// When buckets past their tier's reach were last dropped everywhere.
    pruned_at: std::sync::atomic::AtomicI64,
}

impl Series {
    fn with(&self, tenant: &TenantId, name: &FunctionName, at_s: i64, f: impl Fn(&mut Bucket)) {
        let mut map = self
            .functions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Every 5 minutes: functions nobody called lately lose what their
        // tiers no longer reach, and go once they hold nothing.
        let last = self.pruned_at.load(std::sync::atomic::Ordering::Relaxed);
        if at_s - last >= COARSE {
            self.pruned_at
                .store(at_s, std::sync::atomic::Ordering::Relaxed);
            map.retain(|_, functions| {
                functions.retain(|_, s| {
                    s.fine.retain(|(t, _)| *t > at_s - FINE_KEEP);
                    s.coarse.retain(|(t, _)| *t > at_s - COARSE_KEEP);
                    !s.coarse.is_empty()
                });
                !functions.is_empty()
            });
        }
        let functions = match map.get_mut(tenant.as_str()) {
            Some(f) => f,
            None => map.entry(tenant.clone()).or_default(),
        };
        match functions.get_mut(name.as_str()) {
            Some(s) => s.record(at_s, f),
            None => functions.entry(name.clone()).or_default().record(at_s, f),
        }
    }

    /// A call's outcome and, when it reached the function, its latency.
    pub fn call(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        at_s: i64,
        status: u16,
        latency_s: Option<f64>,
        in_flight: u32,
    ) {
        let o = outcome(status);
        let l = latency_s.map(latency_bucket);
        if l.is_some() {
            let mut tally = self
                .invocations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match tally.get_mut(tenant.as_str()) {
                Some(n) => *n += 1,
                None => {
                    tally.insert(tenant.clone(), 1);
                }
            }
        }
        self.with(tenant, name, at_s, |b| {
            b.calls[o] = b.calls[o].saturating_add(1);
            if let Some(l) = l {
                b.latency[l] = b.latency[l].saturating_add(1);
            }
            b.in_flight_max = b.in_flight_max.max(in_flight);
        });
    }

    /// A cold start that ended with a ready replica after `ms`.
    pub fn cold_start(&self, tenant: &TenantId, name: &FunctionName, at_s: i64, ms: u64) {
        self.with(tenant, name, at_s, |b| {
            b.cold_starts = b.cold_starts.saturating_add(1);
            b.cold_start_ms = b.cold_start_ms.saturating_add(ms);
        });
    }

    /// A sample of the function's replicas (asked for, ready) standing for
    /// the last `seconds`. Nothing is kept for a function at zero.
    pub fn replicas(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        at_s: i64,
        desired: u32,
        ready: u32,
        seconds: u32,
    ) {
        if desired == 0 && ready == 0 {
            return;
        }
        let cap = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        self.with(tenant, name, at_s, |b| {
            b.replicas_max = b.replicas_max.max(cap(desired));
            b.ready_max = b.ready_max.max(cap(ready));
            b.ready_seconds = b
                .ready_seconds
                .saturating_add(ready.saturating_mul(seconds));
        });
    }

    /// Calls that reached a function per tenant since the last take (for
    /// the usage table), and starts counting again.
    pub fn take_invocations(&self) -> HashMap<TenantId, i64> {
        std::mem::take(
            &mut *self
                .invocations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Gives back what [`Series::take_invocations`] took and could not be
    /// written, to be written with the next.
    pub fn return_invocations(&self, taken: HashMap<TenantId, i64>) {
        let mut map = self
            .invocations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (t, n) in taken {
            *map.entry(t).or_default() += n;
        }
    }

    /// Every function of `tenant` with a series, each with its points as
    /// [`Series::query`] gives them.
    pub fn query_tenant(
        &self,
        tenant: &TenantId,
        end_s: i64,
        range_s: i64,
        step_s: i64,
    ) -> Vec<(FunctionName, Vec<Point>)> {
        self.functions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant.as_str())
            .map(|functions| {
                functions
                    .iter()
                    .map(|(n, s)| (n.clone(), points_of(Some(s), end_s, range_s, step_s)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops a deleted function's series.
    pub fn forget(&self, tenant: &TenantId, name: &FunctionName) {
        let mut map = self
            .functions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(functions) = map.get_mut(tenant.as_str()) {
            functions.remove(name.as_str());
            if functions.is_empty() {
                map.remove(tenant.as_str());
            }
        }
    }

    /// The points of `[end - range, end)` every `step` seconds (each the
    /// sum of the buckets it covers), from the fine tier when `step` is a
    /// multiple of [`FINE`] and the range within [`FINE_KEEP`], else the
    /// coarse one (`step` a multiple of [`COARSE`]). Points without data
    /// are there, empty. The caller checks the range and step
    /// ([`check_query`]).
    pub fn query(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        end_s: i64,
        range_s: i64,
        step_s: i64,
    ) -> Vec<Point> {
        let map = self
            .functions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.get(tenant.as_str()).and_then(|f| f.get(name.as_str()));
        points_of(s, end_s, range_s, step_s)
    }

    /// Functions with a series and the bytes their buckets take (for the
    /// benchmark of the bound).
    pub fn footprint(&self) -> (usize, usize) {
        let map = self
            .functions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = map
            .values()
            .flat_map(HashMap::values)
            .map(|s| {
                (s.fine.capacity() + s.coarse.capacity()) * std::mem::size_of::<(i64, Bucket)>()
                    + std::mem::size_of::<FunctionSeries>()
            })
            .sum();
        (map.values().map(HashMap::len).sum(), bytes)
    }
}

/// The points of one function's series `s` (none: all empty), as
/// [`Series::query`] describes them.
fn points_of(s: Option<&FunctionSeries>, end_s: i64, range_s: i64, step_s: i64) -> Vec<Point> {
    let end = end_s - end_s.rem_euclid(step_s) + step_s;
    let start = end - range_s;
    let mut points: Vec<Point> = (0..range_s / step_s)
        .map(|i| Point {
            start: start + i * step_s,
            bucket: Bucket::default(),
        })
        .collect();
    let Some(s) = s else {
        return points;
    };
    let tier = if step_s % FINE == 0 && range_s <= FINE_KEEP && step_s < COARSE {
        &s.fine
    } else {
        &s.coarse
    };
    for (t, b) in tier {
        if *t >= start && *t < end {
            let i = usize::try_from((t - start) / step_s).unwrap_or(0);
            if let Some(p) = points.get_mut(i) {
                p.bucket.add(b);
            }
        }
    }
    points
}

/// Why a range or step is refused (the field it names and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuery {
    pub field: &'static str,
    pub message: String,
}

/// Parses `15m`, `1h`, `24h`, `7d` or plain seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (n, unit) = match s.char_indices().last()? {
        (i, 's') => (&s[..i], 1),
        (i, 'm') => (&s[..i], 60),
        (i, 'h') => (&s[..i], 3600),
        (i, 'd') => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: i64 = n.parse().ok().filter(|n: &i64| *n > 0)?;
    n.checked_mul(unit)
}

/// The most points one query may return.
pub const MAX_POINTS: i64 = 1000;

/// The longest range a query may ask of Prometheus, seconds (7 days).
pub const PROMETHEUS_KEEP: i64 = 7 * 86400;

/// Checks a query: range 15 min to 24 h with the embedded store (7 days
/// with Prometheus), step a multiple of 10 s (with the embedded store, of
/// 5 min beyond the last hour or for a step of 5 min or more), dividing
/// the range, at most [`MAX_POINTS`] points. Returns (range, step) in
/// seconds.
pub fn check_query(
    range: &str,
    step: Option<&str>,
    embedded: bool,
) -> Result<(i64, i64), BadQuery> {
    let bad = |field, message: String| Err(BadQuery { field, message });
    let Some(range_s) = parse_duration(range) else {
        return bad(
            "range",
            format!("{range:?} is not a duration like 15m, 1h, 24h"),
        );
    };
    if embedded && !(900..=COARSE_KEEP).contains(&range_s) {
        return bad(
            "range",
            "must be from 15m to 24h with the embedded store (configure Prometheus for longer)"
                .into(),
        );
    }
    if !(900..=PROMETHEUS_KEEP).contains(&range_s) {
        return bad("range", "must be from 15m to 7d".into());
    }
    let fine = range_s <= FINE_KEEP || !embedded;
    let default_step = (range_s / 60).max(FINE);
    let step_s = match step {
        None => {
            // About 60 points: the first multiple of the tier's width from
            // range/60 on that divides the range.
            let unit = if fine && default_step < COARSE {
                FINE
            } else {
                COARSE
            };
            let mut step = (default_step + unit - 1) / unit * unit;
            while range_s % step != 0 {
                step += unit;
            }
            step
        }
        Some(s) => match parse_duration(s) {
            Some(v) => v,
            None => return bad("step", format!("{s:?} is not a duration like 10s, 1m, 5m")),
        },
    };
    let unit = if !embedded || (fine && step_s < COARSE) {
        FINE
    } else {
        COARSE
    };
    if step_s % unit != 0 || step_s > range_s {
        return bad(
            "step",
            format!(
                "must be a multiple of {unit} s{} and at most the range",
                if fine { "" } else { " beyond the last hour" }
            ),
        );
    }
    if range_s / step_s > MAX_POINTS {
        return bad(
            "step",
            format!("gives more than {MAX_POINTS} points; make it larger"),
        );
    }
    if range_s % step_s != 0 {
        return bad("step", "must divide the range".into());
    }
    Ok((range_s, step_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, FunctionName) {
        (
            TenantId::parse("acme").unwrap(),
            FunctionName::parse("f").unwrap(),
        )
    }

    #[test]
    fn calls_land_in_their_buckets_by_outcome_and_sum_into_points() {
        let s = Series::default();
        let (t, f) = ids();
        let now = 1_800_000_000; // a multiple of 300
        s.call(&t, &f, now, 200, Some(0.004), 1);
        s.call(&t, &f, now + 1, 201, Some(0.02), 3);
        s.call(&t, &f, now + 12, 404, Some(0.001), 1);
        s.call(&t, &f, now + 13, 429, None, 0);
        s.call(&t, &f, now + 14, 503, None, 0);
        s.call(&t, &f, now + 15, 504, Some(30.0), 1);
        s.call(&t, &f, now + 16, 502, None, 0);
        s.cold_start(&t, &f, now + 2, 900);
        let points = s.query(&t, &f, now + 19, 900, 10);
        assert_eq!(points.len(), 90);
        let last = &points[89];
        assert_eq!(last.start, now + 10);
        assert_eq!(last.bucket.calls, [0, 1, 1, 1, 1, 1, 0]);
        let first = &points[88];
        assert_eq!(first.bucket.calls[0], 2);
        assert_eq!(first.bucket.in_flight_max, 3);
        assert_eq!(
            (first.bucket.cold_starts, first.bucket.cold_start_ms),
            (1, 900)
        );
        // One point of a minute holds both.
        let minute = s.query(&t, &f, now + 19, 900, 60);
        assert_eq!(minute.last().unwrap().bucket.total_calls(), 7);
        // The coarse tier for longer ranges.
        let day = s.query(&t, &f, now + 19, 86400, 300);
        assert_eq!(day.len(), 288);
        assert_eq!(day.last().unwrap().bucket.total_calls(), 7);
        // Other functions see nothing.
        let other = FunctionName::parse("g").unwrap();
        assert!(s
            .query(&t, &other, now, 900, 10)
            .iter()
            .all(|p| p.bucket.total_calls() == 0));
        s.forget(&t, &f);
        assert_eq!(s.footprint().0, 0);
    }

    #[test]
    fn old_buckets_go_so_memory_stays_bounded() {
        let s = Series::default();
        let (t, f) = ids();
        // Two days of one call every 10 s (and one call of another
        // function at the start).
        s.call(
            &t,
            &FunctionName::parse("g").unwrap(),
            1_800_000_000,
            200,
            None,
            0,
        );
        for i in 0..(2 * 86400 / FINE) {
            s.call(&t, &f, 1_800_000_000 + i * FINE, 200, Some(0.001), 1);
        }
        // The function nobody called since the start has gone.
        let (n, bytes) = s.footprint();
        assert_eq!(n, 1);
        assert!(
            bytes <= 2 * MAX_BYTES_PER_FUNCTION,
            "{bytes} > 2 × {MAX_BYTES_PER_FUNCTION}"
        );
        let map = s.functions.lock().unwrap();
        let series = map.values().flat_map(HashMap::values).next().unwrap();
        assert_eq!(series.fine.len() as i64, FINE_KEEP / FINE);
        assert_eq!(series.coarse.len() as i64, COARSE_KEEP / COARSE);
    }

    #[test]
    fn quantiles_interpolate_within_the_histogram() {
        let mut b = Bucket::default();
        assert_eq!(b.latency_quantile(0.5), None);
        for _ in 0..90 {
            b.latency[latency_bucket(0.004)] += 1; // (0.0025, 0.005]
        }
        for _ in 0..10 {
            b.latency[latency_bucket(0.2)] += 1; // (0.1, 0.25]
        }
        let p50 = b.latency_quantile(0.5).unwrap();
        assert!(p50 > 0.0025 && p50 <= 0.005, "{p50}");
        let p99 = b.latency_quantile(0.99).unwrap();
        assert!(p99 > 0.1 && p99 <= 0.25, "{p99}");
        b.latency[LATENCY_BOUNDS.len()] = 1000;
        assert_eq!(b.latency_quantile(0.99), Some(30.0));
    }

    #[test]
    fn ranges_and_steps_are_checked_naming_the_field() {
        assert_eq!(check_query("15m", None, true), Ok((900, 20)));
        assert_eq!(check_query("1h", Some("1m"), true), Ok((3600, 60)));
        assert_eq!(check_query("24h", None, true), Ok((86400, 1800)));
        assert_eq!(check_query("6h", Some("5m"), true), Ok((21600, 300)));
        // Prometheus keeps a week at any multiple of 10 s.
        assert_eq!(check_query("7d", None, false), Ok((604800, 10800)));
        assert_eq!(check_query("6h", Some("1m"), false), Ok((21600, 60)));
        assert_eq!(check_query("2d", Some("5m"), false), Ok((172800, 300)));
        assert_eq!(
            check_query("2d", None, true).unwrap_err().field,
            "range",
            "only Prometheus reaches past a day"
        );
        assert_eq!(check_query("8d", None, false).unwrap_err().field, "range");
        assert_eq!(
            check_query("1h", Some("15s"), false).unwrap_err().field,
            "step"
        );
        for (range, step, field) in [
            ("5m", None, "range"),
            ("8d", None, "range"),
            ("soon", None, "range"),
            ("-1h", None, "range"),
            ("1h", Some("7s"), "step"),
            ("1h", Some("2h"), "step"),
            ("6h", Some("1m"), "step"),
            ("24h", Some("10s"), "step"),
            ("1h", Some("x"), "step"),
            ("1h", Some("70s"), "step"),
        ] {
            assert_eq!(
                check_query(range, step, true).unwrap_err().field,
                field,
                "{range} {step:?}"
            );
        }
    }
}
