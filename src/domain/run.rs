//! Runs: the actions of one fire, as they were when it fired, with every attempt to carry them out.
//!
//! A run is written in the same commit as its fire and worked through by the action worker: actions
//! in order, each retried on the configured schedule until it succeeds or is given up.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trigger::{Actions, FunctionCall, RequestAction};
use super::{InstanceId, RunId, SystemId, TriggerId};

/// Attempts kept per action; older ones are dropped (`attempt_count` still counts them).
const MAX_ATTEMPTS_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for its turn, or for an action's next attempt.
    Pending,
    /// An attempt is under way.
    Running,
    /// Every action succeeded.
    Succeeded,
    /// Every action was tried and at least one was given up.
    Failed,
}

impl RunStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|s| s.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Nothing is left to do.
    pub fn finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Pending,
    Succeeded,
    /// Failed on every attempt the schedule allows.
    GivenUp,
}

/// One action of a run. Mailers become one action per address, so a retry reaches only the addresses
/// that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Function(FunctionCall),
    Email { to: String, subject: String, content: String },
    Request(RequestAction),
}

/// One try at an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Epoch milliseconds.
    pub started_at: u64,
    pub finished_at: u64,
    pub latency_ms: u64,
    pub succeeded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAction {
    pub index: usize,
    #[serde(flatten)]
    pub action: Action,
    pub status: ActionStatus,
    /// Every attempt made, counting those no longer kept in `attempts`.
    pub attempt_count: u32,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub trigger_instance: InstanceId,
    pub system_id: SystemId,
    pub trigger_id: TriggerId,
    /// The instance's `trigger_count` after this fire: runs of one instance execute in this order.
    pub fire: u64,
    /// Epoch milliseconds.
    pub fired_at: u64,
    pub status: RunStatus,
    pub actions: Vec<RunAction>,
    /// The firing call's JSON body, kept only when an action reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// When the next attempt is due (epoch milliseconds), while an action waits for a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

/// Where a run comes from: the fire that made it.
pub struct FireInfo {
    pub instance: InstanceId,
    pub system: SystemId,
    pub trigger: TriggerId,
    pub fire: u64,
    pub fired_at: u64,
}

impl Run {
    /// The run of a fire with these actions; `None` when there is nothing to run.
    pub fn for_fire(fire: FireInfo, actions: &Actions, subject: &str, payload: Option<Value>) -> Option<Self> {
        let actions = flatten(actions, subject);
        if actions.is_empty() {
            return None;
        }
        Some(Self {
            id: RunId::generate(),
            trigger_instance: fire.instance,
            system_id: fire.system,
            trigger_id: fire.trigger,
            fire: fire.fire,
            fired_at: fire.fired_at,
            status: RunStatus::Pending,
            actions,
            payload,
            next_attempt_at: None,
            finished_at: None,
        })
    }

    /// The first action not yet succeeded or given up.
    pub fn next_action(&self) -> Option<usize> {
        self.actions.iter().position(|a| a.status == ActionStatus::Pending)
    }

    /// The idempotency key of an action: the same on every attempt, different for every action.
    pub fn idempotency_key(&self, index: usize) -> String {
        format!("{}:{index}", self.id)
    }

    /// Records an attempt; returns the action's status after it. `retry_after` is the wait before the
    /// next attempt, `None` when the schedule has no more: then a failure gives the action up.
    pub fn record(&mut self, index: usize, attempt: Attempt, retry_after: Option<u64>) -> ActionStatus {
        let finished_at = attempt.finished_at;
        let succeeded = attempt.succeeded;
        let Some(action) = self.actions.get_mut(index) else { return ActionStatus::GivenUp };
        action.attempt_count = action.attempt_count.saturating_add(1);
        action.attempts.push(attempt);
        if action.attempts.len() > MAX_ATTEMPTS_KEPT {
            action.attempts.remove(0);
        }
        self.next_attempt_at = None;
        action.status = match (succeeded, retry_after) {
            (true, _) => ActionStatus::Succeeded,
            (false, Some(wait)) => {
                self.next_attempt_at = Some(finished_at.saturating_add(wait));
                ActionStatus::Pending
            }
            (false, None) => ActionStatus::GivenUp,
        };
        self.status = RunStatus::Pending;
        if self.next_action().is_none() {
            self.finish(finished_at);
        }
        self.actions[index].status
    }

    fn finish(&mut self, at: u64) {
        let failed = self.actions.iter().any(|a| a.status == ActionStatus::GivenUp);
        self.status = if failed { RunStatus::Failed } else { RunStatus::Succeeded };
        self.finished_at = Some(at);
    }

    /// Makes a failed run's given-up actions pending again, for an admin's retry; false when the run
    /// has not failed.
    pub fn requeue(&mut self) -> bool {
        if self.status != RunStatus::Failed {
            return false;
        }
        for action in &mut self.actions {
            if action.status == ActionStatus::GivenUp {
                action.status = ActionStatus::Pending;
            }
        }
        self.status = RunStatus::Pending;
        self.finished_at = None;
        self.next_attempt_at = None;
        true
    }
}

fn flatten(actions: &Actions, subject: &str) -> Vec<RunAction> {
    let functions = actions.functions.iter().cloned().map(Action::Function);
    let emails = actions.mailers.iter().flat_map(|m| {
        m.emails.iter().map(|to| Action::Email {
            to: to.clone(),
            subject: subject.to_owned(),
            content: m.content.clone(),
        })
    });
    let requests = actions.requests.iter().cloned().map(Action::Request);
    functions
        .chain(emails)
        .chain(requests)
        .enumerate()
        .map(|(index, action)| RunAction {
            index,
            action,
            status: ActionStatus::Pending,
            attempt_count: 0,
            attempts: Vec::new(),
        })
        .collect()
}

/// Filters of a run list.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
}

impl RunFilter {
    pub fn admits(&self, run: &Run) -> bool {
        self.status.is_none_or(|s| s == run.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trigger::Mailer;

    fn fire() -> FireInfo {
        FireInfo {
            instance: InstanceId::generate(),
            system: SystemId::generate(),
            trigger: TriggerId::generate(),
            fire: 1,
            fired_at: 1_000,
        }
    }

    fn attempt(succeeded: bool, at: u64) -> Attempt {
        Attempt { started_at: at, finished_at: at, latency_ms: 0, succeeded, error: (!succeeded).then(|| "no".into()) }
    }

    fn two_emails() -> Actions {
        let mailer = Mailer { emails: vec!["a@example.com".into(), "b@example.com".into()], content: "hi".into() };
        Actions { mailers: vec![mailer], ..Actions::default() }
    }

    #[test]
    fn no_actions_make_no_run_and_mailers_become_one_action_per_address() {
        assert!(Run::for_fire(fire(), &Actions::default(), "t", None).is_none());
        let run = Run::for_fire(fire(), &two_emails(), "t", None).unwrap();
        let tos: Vec<_> = run
            .actions
            .iter()
            .map(|a| match &a.action {
                Action::Email { to, .. } => to.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tos, ["a@example.com", "b@example.com"]);
        assert_eq!(run.idempotency_key(1), format!("{}:1", run.id));
    }

    #[test]
    fn a_failure_waits_for_its_retry_then_gives_up_and_the_run_fails_after_the_rest() {
        let mut run = Run::for_fire(fire(), &two_emails(), "t", None).unwrap();

        assert_eq!(run.record(0, attempt(false, 10), Some(5)), ActionStatus::Pending);
        assert_eq!((run.next_attempt_at, run.next_action()), (Some(15), Some(0)));
        assert_eq!(run.record(0, attempt(false, 15), None), ActionStatus::GivenUp);
        assert_eq!((run.next_action(), run.status), (Some(1), RunStatus::Pending));
        assert_eq!(run.record(1, attempt(true, 20), Some(5)), ActionStatus::Succeeded);

        assert_eq!((run.status, run.finished_at), (RunStatus::Failed, Some(20)));
        assert_eq!(run.actions[0].attempt_count, 2);
        assert!(run.requeue());
        assert_eq!((run.status, run.next_action()), (RunStatus::Pending, Some(0)));
        assert_eq!(run.actions[1].status, ActionStatus::Succeeded, "a succeeded action is not repeated");
    }

    #[test]
    fn only_a_failed_run_is_requeued() {
        let mut run = Run::for_fire(fire(), &two_emails(), "t", None).unwrap();
        assert!(!run.requeue());
        run.record(0, attempt(true, 1), None);
        run.record(1, attempt(true, 2), None);
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(!run.requeue());
    }
}
