//! The per-instance condition state machine, free of clocks and storage so it can be tested exactly.
//!
//! An instance holds a set of named conditions (`webhook`, `comparison_0`, `time_0`, …). It is
//! *triggered* while all of them hold (any one, with `any_match`; never with none) and *fires* on the
//! rising edge. A *pulse* (a webhook call, a schedule coming due) holds its condition true for the
//! debounce period, extending the window if it is already open; a pulse inside an open window changes
//! nothing else. A window ends one period after its last pulse, by the period in force now, so editing
//! the period moves the end of a window already open. Comparisons are *set* to their current value
//! (level-triggered).
//!
//! Time is milliseconds on a monotonic clock chosen by the caller.

use std::collections::BTreeMap;

pub const WEBHOOK: &str = "webhook";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionState {
    any_match: bool,
    values: BTreeMap<String, bool>,
    /// The last pulse of each open window, by condition; the window ends (exclusive) `period` later.
    windows: BTreeMap<String, u64>,
    /// The debounce period, in ms.
    period: u64,
    triggered: bool,
    /// Changes whenever `values` does, so that a caller can tell without comparing maps.
    revision: u64,
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
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from stored values. Pulse windows do not survive a restart, so the caller passes only
    /// level conditions as true.
    pub fn restore(values: BTreeMap<String, bool>, triggered: bool) -> Self {
        Self { values, triggered, ..Self::default() }
    }

    /// Sets which conditions exist (after a trigger edit, say). Known values are kept; new ones start
    /// false; `triggered` is re-derived, so an edit can fire or reset the instance.
    pub fn configure(&mut self, any_match: bool, names: impl IntoIterator<Item = String>) -> Step {
        self.any_match = any_match;
        let mut values = BTreeMap::new();
        for name in names {
            let value = self.values.get(&name).copied().unwrap_or(false);
            values.insert(name, value);
        }
        self.values = values;
        self.revision += 1;
        self.windows.retain(|name, _| self.values.contains_key(name));
        self.settle()
    }

    pub fn triggered(&self) -> bool {
        self.triggered
    }

    /// When the next open window ends.
    pub fn next_deadline(&self) -> Option<u64> {
        self.windows.values().min().map(|last| last.saturating_add(self.period))
    }

    /// Sets the debounce period (after a trigger edit): open windows now end `period` after their
    /// last pulse, which [`ConditionState::expire`] applies.
    pub fn set_period(&mut self, period: u64) {
        self.period = period;
    }

    pub fn values(&self) -> &BTreeMap<String, bool> {
        &self.values
    }

    /// Differs from an earlier call's whenever `values` has changed since.
    pub fn revision(&self) -> u64 {
        self.revision
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
        self.pulse(WEBHOOK, now, period)
    }

    /// Holds `name` true from `now` for `period` ms.
    pub fn pulse(&mut self, name: &str, now: u64, period: u64) -> Step {
        let before = self.triggered;
        self.period = period;
        // A window that ended before this pulse is closed first, even if its timer has not run yet.
        self.expire(now);
        let Some(was) = self.values.get(name).copied() else {
            return Step { fired: false, changed: self.triggered != before };
        };
        // An open window is extended in place: a pulse per webhook call allocates no names.
        if let Some(last) = self.windows.get_mut(name) {
            *last = now;
            return Step { fired: false, changed: self.triggered != before };
        }
        let revision = self.revision;
        self.set_value(name, true);
        let fired = self.settle().fired;
        if period == 0 {
            // The window is over as it opens: the pulse counts, and the condition drops at once.
            self.set_value(name, false);
            self.settle();
            if !was {
                // The values are back to what `revision` stood for.
                self.revision = revision;
            }
        } else {
            self.windows.insert(name.to_owned(), now);
        }
        Step { fired, changed: self.triggered != before }
    }

    /// Sets a known condition's value, keeping `revision` in step.
    fn set_value(&mut self, name: &str, value: bool) {
        if let Some(v) = self.values.get_mut(name) {
            if *v != value {
                *v = value;
                self.revision += 1;
            }
        }
    }

    /// Closes every window that has ended by `now`.
    pub fn expire(&mut self, now: u64) -> Step {
        let before = self.triggered;
        let ended = |last: &u64| last.saturating_add(self.period) <= now;
        let mut lapsed = false;
        for (name, _) in self.windows.iter().filter(|(_, last)| ended(last)) {
            lapsed = true;
            if let Some(v) = self.values.get_mut(name) {
                self.revision += u64::from(std::mem::replace(v, false));
            }
        }
        if !lapsed {
            return Step { fired: false, changed: false };
        }
        let period = self.period;
        self.windows.retain(|_, last| last.saturating_add(period) > now);
        let fired = self.settle().fired;
        Step { fired, changed: self.triggered != before }
    }

    /// Sets a non-webhook condition (comparisons and schedules).
    pub fn set(&mut self, name: &str, value: bool) -> Step {
        match self.values.get_mut(name) {
            Some(v) if *v != value => {
                *v = value;
                self.revision += 1;
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
        assert_eq!(s.next_deadline(), Some(249));
        let reset = s.expire(249);
        assert!(reset.changed && !s.triggered());
        assert!(s.webhook_call(250, 100).fired);
    }

    #[test]
    fn a_new_period_moves_the_end_of_an_open_window() {
        let mut s = webhook_only();
        assert!(s.webhook_call(0, 60_000).fired);
        assert!(!s.webhook_call(500, 60_000).fired);
        s.set_period(1_000);
        assert_eq!(s.next_deadline(), Some(1_500), "one new period after the last call");
        assert!(!s.expire(1_499).changed);
        assert!(s.expire(1_500).changed && !s.triggered());

        assert!(s.webhook_call(2_000, 1_000).fired);
        s.set_period(0);
        assert!(s.expire(2_000).changed, "a zero period ends the window at once");
        assert!(s.webhook_call(2_000, 100).fired);
        s.set_period(5_000);
        assert_eq!(s.next_deadline(), Some(7_000), "a longer period lengthens it");
        assert!(s.webhook_call(3_000, 50).fired, "a call brings its own period: the window ended at 2,050");
        assert_eq!(s.next_deadline(), Some(3_050));
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
    fn pulses_of_different_conditions_keep_their_own_windows() {
        let mut s = ConditionState::new();
        s.configure(false, [WEBHOOK.to_owned(), "time_0".to_owned()]);
        assert!(!s.webhook_call(0, 100).fired);
        assert!(s.pulse("time_0", 50, 100).fired, "both hold at 50");
        assert_eq!(s.next_deadline(), Some(100));
        assert!(s.expire(100).changed, "the webhook window ends first");
        assert!(s.values()["time_0"]);
        assert_eq!(s.next_deadline(), Some(150));
    }

    #[test]
    fn restored_level_conditions_do_not_fire_again() {
        let values = [("comparison_0".to_owned(), true)].into_iter().collect();
        let mut s = ConditionState::restore(values, true);
        s.configure(false, ["comparison_0".to_owned()]);
        assert!(!s.set("comparison_0", true).fired);
        assert!(s.set("comparison_0", false).changed);
        assert!(s.set("comparison_0", true).fired);
    }

    #[test]
    fn an_edit_re_derives_triggered() {
        let mut s = ConditionState::new();
        s.configure(false, ["comparison_0".to_owned()]);
        assert!(s.set("comparison_0", true).fired);
        let added = s.configure(false, ["comparison_0".to_owned(), "comparison_1".to_owned()]);
        assert!(added.changed && !s.triggered(), "a new false condition breaks the set");
        assert!(s.set("comparison_1", true).fired, "and completing it fires again");
        let removed = s.configure(false, ["comparison_0".to_owned()]);
        assert!(!removed.changed && s.triggered());
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

    #[test]
    fn the_revision_moves_whenever_the_values_change() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7e51);
        let names = [WEBHOOK, "comparison_0", "time_0"];
        for _ in 0..300 {
            let mut s = ConditionState::new();
            s.configure(rng.gen_bool(0.5), names.iter().map(|n| n.to_string()));
            let period = rng.gen_range(0..3u64) * 10;
            let mut t = 0u64;
            for _ in 0..40 {
                t += rng.gen_range(0..15u64);
                let (values, revision) = (s.values().clone(), s.revision());
                match rng.gen_range(0..3) {
                    0 => drop(s.pulse(names[rng.gen_range(0..3)], t, period)),
                    1 => drop(s.set("comparison_0", rng.gen_bool(0.5))),
                    _ => drop(s.expire(t)),
                }
                if *s.values() != values {
                    assert_ne!(s.revision(), revision, "period {period} at {t}");
                }
            }
        }
    }

    #[test]
    fn zero_period_calls_leave_the_revision_alone() {
        // The webhook path compares no maps when the debounce period is zero.
        let mut s = webhook_only();
        let revision = s.revision();
        for t in 0..10 {
            assert!(s.webhook_call(t, 0).fired);
            assert_eq!(s.revision(), revision);
        }
    }
}
