//! A token-bucket rate limiter for DynamoDB requests: table management calls are capped at
//! `-dynamodb.api-limit` per second, retries of throttled items at `-dynamodb.throttle-limit`.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Lets `rate` tokens per second through, with bursts of up to `burst` tokens.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: u32,
    next_free: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter of `rate` tokens per second (must be above 0) and bursts of `burst`.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        let interval =
            Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE)).min(Duration::from_secs(3600));
        Self { interval, burst: burst.max(1), next_free: Mutex::new(Instant::now()) }
    }

    /// Waits until `tokens` more tokens fit the rate.
    pub(crate) async fn wait(&self, tokens: u32) {
        let ready_at = {
            let mut next_free = self.next_free.lock().await;
            let now = Instant::now();
            // Unused capacity of the recent past counts up to a burst.
            let earliest = now.checked_sub(self.interval * self.burst).unwrap_or(now);
            let start = (*next_free).max(earliest);
            *next_free = start + self.interval * tokens;
            // The tokens beyond the burst are what must be waited for.
            (start + self.interval * tokens).checked_sub(self.interval * self.burst).unwrap_or(now)
        };
        tokio::time::sleep_until(ready_at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paces_after_the_burst() {
        let limiter = RateLimiter::new(10.0, 2);
        let start = Instant::now();
        limiter.wait(1).await;
        limiter.wait(1).await;
        assert!(start.elapsed() < Duration::from_millis(5), "the burst passes at once");
        for _ in 0..10 {
            limiter.wait(1).await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(950) && elapsed <= Duration::from_millis(1100),
            "{elapsed:?}"
        );
    }
}
