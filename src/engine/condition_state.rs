//! The per-instance condition state machine, free of clocks and storage so it can be tested exactly.
//!
//! An instance holds a set of named conditions (`webhook`, `comparison_0`, `time_0`, …). It is
//! *triggered* while all of them hold (any one, with `any_match`; never with none) and *fires* on the
//! rising edge. A webhook call holds `webhook` true for the debounce period from the call, extending the
//! window if it is already open; a call inside an open window changes nothing else.
//!
//! Time is milliseconds on a monotonic clock chosen by the caller.

use std::collections::BTreeMap;

pub const WEBHOOK: &str = "webhook";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionState {
    any_match: bool,
    values: BTreeMap<String, bool>,
    /// End of the open webhook window (exclusive).
    window_until: Option<u64>,
    triggered: bool,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// A rising edge happened: the instance fired.
    pub fired: bool,
    /// `triggered` changed (either way), so the stored state must be rewritten.
    pub changed: bool,
}

impl ConditionState {
    /// Starts untriggered; `triggered` is never restored from storage because no window survives a restart.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets which conditions exist. Known values are kept; new ones start false.
    pub fn configure(&mut self, any_match: bool, names: impl IntoIterator<Item = String>) {
        self.any_match = any_match;
        let mut values = BTreeMap::new();
        for name in names {
            let value = self.values.get(&name).copied().unwrap_or(false);
            values.insert(name, value);
        }
        self.values = values;
    }

    pub fn triggered(&self) -> bool {
        self.triggered
    }

    pub fn window_until(&self) -> Option<u64> {
        self.window_until
    }

    pub fn values(&self) -> &BTreeMap<String, bool> {
        &self.values
    }

    fn holds(&self) -> bool {
        if self.values.is_empty() {
            return false;
        }
        if self.any_match {
            self.values.values().any(|v| *v)
        } else {
            self.values.values().all(|v| *v)
        }
    }

    /// Re-derives `triggered` after a condition changed.
    fn settle(&mut self) -> Step {
        let holds = self.holds();
        let fired = holds && !self.triggered;
        let changed = holds != self.triggered;
        self.triggered = holds;
        Step { fired, changed }
    }

    /// A webhook call at `now` with a debounce period of `period` ms.
    pub fn webhook_call(&mut self, now: u64, period: u64) -> Step {
        let before = self.triggered;
        // A window that ended before this call is closed first, even if its timer has not run yet.
        self.expire(now);
        let open = self.window_until.is_some();
        self.window_until = Some(now.saturating_add(period));
        let mut fired = false;
        if !open && self.values.contains_key(WEBHOOK) {
            self.values.insert(WEBHOOK.to_owned(), true);
            fired = self.settle().fired;
            if period == 0 {
                // The window is already over: the call counts, and the condition drops at once.
                self.expire(now);
            }
        }
        Step { fired, changed: self.triggered != before }
    }

    /// Closes the webhook window if it has ended by `now`.
    pub fn expire(&mut self, now: u64) -> Step {
        match self.window_until {
            Some(until) if until <= now => {
                self.window_until = None;
                if let Some(v) = self.values.get_mut(WEBHOOK) {
                    *v = false;
                }
                self.settle()
            }
            _ => Step { fired: false, changed: false },
        }
    }

    /// Sets a non-webhook condition (comparisons and schedules).
    pub fn set(&mut self, name: &str, value: bool) -> Step {
        match self.values.get_mut(name) {
            Some(v) if *v != value => {
                *v = value;
                self.settle()
            }
            _ => Step { fired: false, changed: false },
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn webhook_only() -> ConditionState {
        let mut s = ConditionState::new();
        s.configure(false, [WEBHOOK.to_owned()]);
        s
    }

    #[test]
    fn calls_inside_the_window_fire_once_and_extend_it() {
        let mut s = webhook_only();
        assert!(s.webhook_call(0, 100).fired);
        assert!(s.triggered());
        assert!(!s.webhook_call(50, 100).fired);
        assert!(!s.expire(120).changed, "the second call extended the window to 150");
        assert!(!s.webhook_call(149, 100).fired);
        assert_eq!(s.window_until(), Some(249));
        let reset = s.expire(249);
        assert!(reset.changed && !s.triggered());
        assert!(s.webhook_call(250, 100).fired);
    }

    #[test]
    fn period_zero_fires_every_call_and_leaves_it_untriggered() {
        let mut s = webhook_only();
        for _ in 0..5 {
            let step = s.webhook_call(7, 0);
            assert!(step.fired);
            assert!(!s.triggered());
        }
    }

    #[test]
    fn other_conditions_gate_the_webhook_unless_any_match() {
        let names = || [WEBHOOK.to_owned(), "comparison_0".to_owned()];
        let mut all = ConditionState::new();
        all.configure(false, names());
        assert!(!all.webhook_call(0, 100).fired);
        assert!(all.set("comparison_0", true).fired, "the comparison completes the set inside the window");

        let mut any = ConditionState::new();
        any.configure(true, names());
        assert!(any.webhook_call(0, 100).fired);
        assert!(!any.set("comparison_0", true).fired, "already triggered");
    }

    #[test]
    fn no_conditions_never_fire() {
        let mut s = ConditionState::new();
        s.configure(true, Vec::<String>::new());
        assert!(!s.webhook_call(0, 0).fired);
    }

    /// The count of fires equals the count of calls that arrive when no window is open, where each call
    /// opens or extends the window to `t + period` and windows close at their end.
    #[test]
    fn random_call_sequences_match_the_reference_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..500 {
            let period = rng.gen_range(0..50u64);
            let mut s = webhook_only();
            let mut t = 0u64;
            let mut model_until: Option<u64> = None;
            let (mut fires, mut model_fires) = (0, 0);
            for _ in 0..rng.gen_range(1..60) {
                t += rng.gen_range(0..40u64);
                if rng.gen_bool(0.3) {
                    s.expire(t);
                }
                if model_until.is_none_or(|u| t >= u) {
                    model_fires += 1;
                }
                model_until = Some(t + period);
                if s.webhook_call(t, period).fired {
                    fires += 1;
                }
                assert_eq!(s.triggered(), period > 0, "triggered only while a window is open");
            }
            assert_eq!(fires, model_fires, "period {period}");
        }
    }
}
