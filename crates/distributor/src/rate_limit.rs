//! Rate limits: a token bucket per tenant (`ingestion_rate`, `ingestion_burst_size`) and the
//! moving average of this distributor's own ingestion rate (`instance_limits`).

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

/// One tenant's token bucket, with the semantics of Go's `rate.Limiter.AllowN`: the bucket
/// starts full, refills at `rate` tokens per second up to `burst`, and a request of `n` tokens
/// either takes them all or none. A request larger than the burst can never pass.
#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per tenant. The rate and burst are passed on every call so that limits
/// reloaded from the runtime config apply to the next request.
#[derive(Debug, Default)]
pub(crate) struct TenantRateLimiter {
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl TenantRateLimiter {
    /// Takes `n` tokens from `tenant`'s bucket if it holds that many; returns whether it did.
    pub(crate) fn allow(&self, tenant: &str, rate: f64, burst: u64, n: u64, now: Instant) -> bool {
        if rate.is_infinite() && rate > 0.0 {
            return true;
        }
        let burst = burst as f64;
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 0.0 };
        let mut buckets = self.buckets.lock();
        let bucket = match buckets.get_mut(tenant) {
            Some(bucket) => bucket,
            None => buckets.entry(tenant.to_string()).or_insert(TokenBucket { tokens: burst, updated: now }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = bucket.updated.max(now);
        let wanted = n as f64;
        if bucket.tokens < wanted {
            return false;
        }
        bucket.tokens -= wanted;
        true
    }
}

/// Weight of the newest one-second interval in the moving average.
const EWMA_ALPHA: f64 = 0.2;

#[derive(Debug)]
struct RateState {
    /// Samples added since the last tick.
    pending: u64,
    /// Start of the current interval.
    interval_start: Instant,
    /// The moving average in samples per second; `None` before the first tick.
    rate: Option<f64>,
}

/// The ingestion rate of this distributor as an exponentially weighted moving average over
/// one-second intervals, updated lazily when read or written.
#[derive(Debug)]
pub(crate) struct IngestionRate {
    state: Mutex<RateState>,
}

impl IngestionRate {
    /// A tracker that starts at `now` with a zero rate.
    pub(crate) fn new(now: Instant) -> Self {
        Self { state: Mutex::new(RateState { pending: 0, interval_start: now, rate: None }) }
    }

    /// Records `count` samples accepted at `now`.
    pub(crate) fn add(&self, count: u64, now: Instant) {
        let mut state = self.state.lock();
        Self::tick(&mut state, now);
        state.pending = state.pending.saturating_add(count);
    }

    /// The moving average at `now`, in samples per second.
    pub(crate) fn rate(&self, now: Instant) -> f64 {
        let mut state = self.state.lock();
        Self::tick(&mut state, now);
        state.rate.unwrap_or(0.0)
    }

    fn tick(state: &mut RateState, now: Instant) {
        let elapsed = now.saturating_duration_since(state.interval_start).as_secs_f64();
        if elapsed < 1.0 {
            return;
        }
        let whole_intervals = elapsed.floor();
        let instant_rate = state.pending as f64 / elapsed;
        let mut rate = match state.rate {
            Some(previous) => previous + EWMA_ALPHA * (instant_rate - previous),
            None => instant_rate,
        };
        // Intervals with nothing recorded beyond the first decay the average towards zero.
        let idle_intervals = (whole_intervals - 1.0).clamp(0.0, 1000.0) as i32;
        rate *= (1.0 - EWMA_ALPHA).powi(idle_intervals);
        state.rate = Some(rate);
        state.pending = 0;
        state.interval_start = now;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bucket_starts_full_and_refills_at_the_rate() {
        let limiter = TenantRateLimiter::default();
        let start = Instant::now();
        assert!(limiter.allow("a", 10.0, 100, 100, start));
        assert!(!limiter.allow("a", 10.0, 100, 1, start));
        // Other tenants have their own bucket.
        assert!(limiter.allow("b", 10.0, 100, 100, start));
        // Half a second refills 5 tokens.
        let later = start + Duration::from_millis(500);
        assert!(!limiter.allow("a", 10.0, 100, 6, later));
        assert!(limiter.allow("a", 10.0, 100, 5, later));
        // Refill stops at the burst.
        let much_later = later + Duration::from_secs(3600);
        assert!(!limiter.allow("a", 10.0, 100, 101, much_later));
        assert!(limiter.allow("a", 10.0, 100, 100, much_later));
    }

    #[test]
    fn a_request_larger_than_the_burst_never_passes() {
        let limiter = TenantRateLimiter::default();
        assert!(!limiter.allow("a", 1e9, 10, 11, Instant::now()));
    }

    #[test]
    fn new_limits_apply_to_the_next_request() {
        let limiter = TenantRateLimiter::default();
        let start = Instant::now();
        assert!(limiter.allow("a", 1.0, 10, 10, start));
        // Raising the rate refills faster from now on.
        assert!(limiter.allow("a", 1000.0, 10, 10, start + Duration::from_millis(10)));
        // Lowering the burst caps the tokens at the new burst.
        assert!(!limiter.allow("a", 1000.0, 5, 6, start + Duration::from_secs(10)));
    }

    #[test]
    fn zero_rate_allows_only_the_burst() {
        let limiter = TenantRateLimiter::default();
        let start = Instant::now();
        assert!(limiter.allow("a", 0.0, 5, 5, start));
        assert!(!limiter.allow("a", 0.0, 5, 1, start + Duration::from_secs(100)));
    }

    #[test]
    fn moving_average_tracks_and_decays() {
        let start = Instant::now();
        let rate = IngestionRate::new(start);
        rate.add(1000, start);
        assert_eq!(rate.rate(start), 0.0);
        let one_second = start + Duration::from_secs(1);
        assert!((rate.rate(one_second) - 1000.0).abs() < 1e-6);
        rate.add(2000, one_second);
        let two_seconds = start + Duration::from_secs(2);
        assert!((rate.rate(two_seconds) - 1200.0).abs() < 1e-6);
        let much_later = start + Duration::from_secs(100);
        assert!(rate.rate(much_later) < 1.0);
    }
}
