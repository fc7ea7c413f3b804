//! Runs: the actions of one fire, as they were when it fired, with every attempt to carry them out.
//!
//! A run is written in the same commit as its fire and worked through by the action worker: actions
//! in order, each retried on the configured schedule until it succeeds or is given up.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::Value;

use super::placeholder::{self, Placeholder, Values};
use super::trigger::{Actions, FunctionCall, RequestAction};
use super::{InstanceId, RunId, SystemId, TriggerId};

/// Attempts kept per action; older ones are dropped (`attempt_count` still counts them).
const MAX_ATTEMPTS_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for its turn, or for an action's next attempt.
    Pending,
    /// An attempt is under way.
    Running,
    /// Every action succeeded.
    Succeeded,
    /// Every action was tried and at least one was given up, or its callouts could not be asked.
    Failed,
    /// A callout refused it before any action ran; never retried.
    Denied,
}

impl RunStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Succeeded, Self::Failed, Self::Denied]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Denied => "denied",
        }
    }

    /// Nothing is left to do.
    pub fn finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Denied)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// One address of a trigger's mailer.
    Email {
        to: String,
        subject: String,
        content: String,
    },
    Request(RequestAction),
}

impl Action {
    /// `function`, `email` or `request`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Function(_) => "function",
            Action::Email { .. } => "email",
            Action::Request(_) => "request",
        }
    }

    /// The placeholders the action holds (checked when its trigger was saved).
    fn placeholders(&self) -> Vec<Placeholder> {
        let found = match self {
            Action::Function(call) => placeholder::collect(&Value::Object(call.args.clone())),
            Action::Email { content, .. } => placeholder::collect_in_str(content),
            Action::Request(request) => request.placeholders(),
        };
        found.unwrap_or_default()
    }

    /// The action with its placeholders replaced by the run's values.
    pub fn resolved(&self, run: &Run) -> Action {
        let values = RunValues(run);
        match self {
            Action::Function(call) => {
                let args = match placeholder::resolve(&Value::Object(call.args.clone()), &values) {
                    Value::Object(args) => args,
                    _ => call.args.clone(),
                };
                Action::Function(FunctionCall { args, ..call.clone() })
            }
            Action::Email { to, subject, content } => Action::Email {
                to: to.clone(),
                subject: subject.clone(),
                content: placeholder::interpolate(content, &values, &|s| s.to_owned()),
            },
            Action::Request(request) => {
                let encode = |s: &str| percent_encoding::utf8_percent_encode(s, URL_VALUE).to_string();
                // A value must not end a header line early.
                let no_controls = |s: &str| s.chars().filter(|c| !c.is_control()).collect();
                Action::Request(RequestAction {
                    url: placeholder::interpolate(&request.url, &values, &encode),
                    headers: request
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), placeholder::interpolate(v, &values, &no_controls)))
                        .collect(),
                    body: request.body.as_ref().map(|b| placeholder::resolve(b, &values)),
                    ..request.clone()
                })
            }
        }
    }
}

/// What a value placed into a URL is encoded with: everything but RFC 3986's unreserved characters.
const URL_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A run's values for its placeholders: the payload, the statuses read when it started, the fire.
struct RunValues<'a>(&'a Run);

impl Values for RunValues<'_> {
    fn payload(&self, pointer: &str) -> Value {
        self.0.payload.as_ref().and_then(|p| p.pointer(pointer)).cloned().unwrap_or(Value::Null)
    }

    fn status(&self, key: &str) -> Value {
        self.0.statuses.as_ref().and_then(|s| s.get(key)).cloned().unwrap_or(Value::Null)
    }

    fn fire(&self, field: &str) -> Value {
        match field {
            "trigger_count" => Value::from(self.0.fire),
            "fired_at" => Value::from(self.0.fired_at),
            "instance_id" => Value::from(self.0.trigger_instance.as_str()),
            "system_id" => Value::from(self.0.system_id.as_str()),
            _ => Value::Null,
        }
    }
}

/// What the callouts asked before a run said, last time they were asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalloutState {
    Allowed,
    Denied,
    /// A callout could not be asked and its failure policy is `deny`: asked again on the retry schedule.
    Unavailable,
}

/// The callouts' answer to a run, and how often they were asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunCallout {
    pub state: CalloutState,
    /// A denial's reason, or why a callout could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
}

/// One try at an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    /// `run-…`
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
    #[schema(value_type = Object, schema_with = super::schema::any)]
    pub payload: Option<Value>,
    /// The module statuses the actions read (`Display_1.power`), as they were when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::object)]
    pub statuses: Option<BTreeMap<String, Value>>,
    /// When the next attempt is due (epoch milliseconds), while an action waits for a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
    /// Epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Set once callouts were asked about the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callout: Option<RunCallout>,
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
            statuses: None,
            next_attempt_at: None,
            finished_at: None,
            callout: None,
        })
    }

    /// The module statuses the actions read, as `(module, status)`.
    pub fn status_refs(&self) -> Vec<(String, String)> {
        let mut refs: Vec<(String, String)> = self
            .actions
            .iter()
            .flat_map(|a| a.action.placeholders())
            .filter_map(|p| match p {
                Placeholder::Status(module, status) => Some((module, status)),
                _ => None,
            })
            .collect();
        refs.sort();
        refs.dedup();
        refs
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

    /// Whether callouts must still allow the run: none has yet, and no action has been tried.
    pub fn awaits_callouts(&self) -> bool {
        let allowed = self.callout.as_ref().is_some_and(|c| c.state == CalloutState::Allowed);
        !allowed && !self.status.finished() && self.actions.iter().all(|a| a.attempt_count == 0)
    }

    /// Records the callouts' answer at `now`. A denial finishes the run; an unavailable callout is asked
    /// again after `retry_after`, or, with the schedule used up, fails the run.
    pub fn record_callout(&mut self, state: CalloutState, reason: Option<String>, retry_after: Option<u64>, now: u64) {
        let attempts = self.callout.as_ref().map_or(0, |c| c.attempts).saturating_add(1);
        self.callout = Some(RunCallout { state, reason, attempts });
        self.next_attempt_at = None;
        match (state, retry_after) {
            (CalloutState::Allowed, _) => {}
            (CalloutState::Unavailable, Some(wait)) => self.next_attempt_at = Some(now.saturating_add(wait)),
            (CalloutState::Denied, _) | (CalloutState::Unavailable, None) => {
                self.status = if state == CalloutState::Denied { RunStatus::Denied } else { RunStatus::Failed };
                self.finished_at = Some(now);
            }
        }
    }

    /// The callouts' attempts so far.
    pub fn callout_attempts(&self) -> u32 {
        self.callout.as_ref().map_or(0, |c| c.attempts)
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
        // Callouts that could not be asked get a new schedule too.
        if self.callout.as_ref().is_some_and(|c| c.state == CalloutState::Unavailable) {
            self.callout = None;
        }
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
    fn placeholders_resolve_against_the_runs_payload_statuses_and_fire() {
        let request: RequestAction = serde_json::from_value(serde_json::json!({
            "method": "POST",
            "url": "https://example.com/doors/{{payload./door}}?n={{fire.trigger_count}}",
            "headers": {"X-Door": "{{payload./door}}"},
            "body": {"power": {"$status": {"mod": "Display_1", "status": "power"}}, "fire": {"$fire": "instance_id"}}
        }))
        .unwrap();
        let actions = Actions { requests: vec![request], ..Actions::default() };
        let payload = serde_json::json!({"door": "a/b\r\nX-Evil: 1"});
        let mut run = Run::for_fire(fire(), &actions, "t", Some(payload)).unwrap();
        assert_eq!(run.status_refs(), [("Display_1".to_owned(), "power".to_owned())]);
        run.statuses = Some([("Display_1.power".to_owned(), serde_json::json!(true))].into());

        let Action::Request(resolved) = run.actions[0].action.resolved(&run) else { panic!("a request") };

        assert_eq!(resolved.url, "https://example.com/doors/a%2Fb%0D%0AX-Evil%3A%201?n=1");
        assert_eq!(resolved.headers["X-Door"], "a/bX-Evil: 1", "no line break reaches a header");
        let expected = serde_json::json!({"power": true, "fire": run.trigger_instance.as_str()});
        assert_eq!(resolved.body, Some(expected));
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

    #[test]
    fn callouts_deny_a_run_for_good_and_an_unavailable_one_waits_for_its_schedule() {
        let mut denied = Run::for_fire(fire(), &two_emails(), "t", None).unwrap();
        assert!(denied.awaits_callouts());
        denied.record_callout(CalloutState::Denied, Some("closed".into()), Some(5), 10);
        assert_eq!((denied.status, denied.finished_at, denied.next_attempt_at), (RunStatus::Denied, Some(10), None));
        assert!(!denied.awaits_callouts() && !denied.requeue(), "a denial is final");

        let mut run = Run::for_fire(fire(), &two_emails(), "t", None).unwrap();
        run.record_callout(CalloutState::Unavailable, Some("timed out".into()), Some(5), 10);
        assert_eq!((run.status, run.next_attempt_at, run.callout_attempts()), (RunStatus::Pending, Some(15), 1));
        run.record_callout(CalloutState::Unavailable, None, None, 15);
        assert_eq!((run.status, run.finished_at), (RunStatus::Failed, Some(15)));
        assert!(run.requeue() && run.awaits_callouts(), "an admin's retry asks again, on a new schedule");
        assert_eq!(run.callout_attempts(), 0);
        run.record_callout(CalloutState::Allowed, None, None, 20);
        assert!(!run.awaits_callouts());
        assert_eq!((run.status, run.next_action()), (RunStatus::Pending, Some(0)));
    }
}
