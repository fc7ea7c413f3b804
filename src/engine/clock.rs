//! The engine's notion of time, in Unix epoch milliseconds. Production uses the system clock; tests
//! inject a [`ManualClock`] and move it forward, so schedules and windows run without real waiting.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
    /// Returns once `now_ms() >= at`.
    async fn sleep_until(&self, at: u64);
}

pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    async fn sleep_until(&self, at: u64) {
        let now = self.now_ms();
        if at > now {
            tokio::time::sleep(std::time::Duration::from_millis(at - now)).await;
        }
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: watch::Sender<u64>,
}

impl ManualClock {
    pub fn starting_at(epoch_ms: u64) -> Arc<Self> {
        Arc::new(Self { now: watch::channel(epoch_ms).0 })
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }

    pub fn set(&self, epoch_ms: u64) {
        self.now.send_modify(|now| *now = (*now).max(epoch_ms));
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: u64) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as the clock, which outlives every sleeper.
        let _ = rx.wait_for(|now| *now >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_only_when_the_clock_passes_its_time() {
        let clock = ManualClock::starting_at(1_000);
        let sleeper = {
            let clock = Arc::clone(&clock);
            tokio::spawn(async move { clock.sleep_until(5_000).await })
        };
        clock.advance(Duration::from_millis(3_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_millis(1_000));
        tokio::time::timeout(Duration::from_secs(5), sleeper).await.unwrap().unwrap();
        assert_eq!(clock.now_ms(), 5_000);
    }
}
