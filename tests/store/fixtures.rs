//! Records to store, built the way the engine builds them.

use std::collections::BTreeMap;

use serde_json::json;
use switchboard::domain::actor::Actor;
use switchboard::domain::api_key::{ApiKey, KeyHash, Role};
use switchboard::domain::callout::{Callout, CalloutMatch, CalloutOn, CalloutSpec, FailurePolicy};
use switchboard::domain::callout_log::{Decision, LogEntry};
use switchboard::domain::ids::CalloutId;
use switchboard::domain::instance::TriggerInstance;
use switchboard::domain::module::{Module, ModuleName};
use switchboard::domain::receipt::{BodyEncoding, Receipt, VerificationOutcome};
use switchboard::domain::run::{Attempt, FireInfo, Run};
use switchboard::domain::signing_secret::SigningSecret;
use switchboard::domain::system::System;
use switchboard::domain::trigger::{Actions, Mailer, Trigger, TriggerSpec};
use switchboard::domain::{ApiKeyId, InstanceId, ModuleId, ReceiptId, SystemId, TriggerId};
use switchboard::events::EngineEvent;
use switchboard::store::repo::BuildInstance;
use switchboard::store::PageRequest;

pub const ALL: PageRequest = PageRequest { offset: 0, limit: usize::MAX };

pub fn page(offset: usize, limit: usize) -> PageRequest {
    PageRequest { offset, limit }
}

pub fn system(name: &str, description: &str) -> System {
    System {
        id: SystemId::generate(),
        name: name.into(),
        description: description.into(),
        modules: Vec::new(),
        created_at: 1,
        updated_at: 1,
    }
}

pub fn module(driver: &str, custom_name: Option<&str>, system: Option<&SystemId>) -> Module {
    Module {
        id: ModuleId::generate(),
        driver: driver.into(),
        custom_name: custom_name.map(|n| ModuleName::parse(n).expect("a valid module name")),
        control_system_id: system.cloned(),
        settings: json!({"ip": "10.0.0.1", "port": 9000}).as_object().cloned().expect("an object"),
        created_at: 1,
        updated_at: 1,
    }
}

pub fn trigger(name: &str, description: &str) -> Trigger {
    let mut spec = TriggerSpec::webhook_only(name);
    spec.description = description.into();
    Trigger { id: TriggerId::generate(), spec, created_at: 1, updated_at: 1 }
}

pub fn api_key(name: &str) -> ApiKey {
    let id = ApiKeyId::generate();
    ApiKey { hash: KeyHash::of(id.as_str()), id, name: name.into(), role: Role::Support, created_at: 1 }
}

pub fn callout(name: &str, system: Option<&SystemId>) -> Callout {
    let spec = CalloutSpec {
        name: name.into(),
        url: "https://callout.example/ask".into(),
        on: vec![CalloutOn::Exec],
        system_id: system.cloned(),
        matching: CalloutMatch::default(),
        timeout_ms: 2000,
        failure_policy: FailurePolicy::Deny,
        enabled: true,
    };
    Callout {
        id: CalloutId::generate(),
        spec,
        secret: SigningSecret::generate(),
        previous_secret: None,
        created_at: 1,
        updated_at: 1,
    }
}

/// A log entry made at `at` (epoch ms); entry ids grow with each call, as UUIDv7s do.
pub fn log_entry(system: &SystemId, at: u64) -> LogEntry {
    LogEntry {
        id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
        at,
        action: CalloutOn::Exec,
        system_id: system.clone(),
        module: Some("Display_1".into()),
        method: Some("power".into()),
        trigger_instance: None,
        run: None,
        status: Some(200),
        error: None,
        latency_ms: 3,
        decision: Decision::Allow,
        allowed: true,
        reason: None,
        request_id: None,
    }
}

/// Builds an instance of the trigger it is given, in `system`.
pub fn build_instance(system: &SystemId) -> BuildInstance {
    let system = system.clone();
    Box::new(move |t: &Trigger| TriggerInstance::new(InstanceId::generate(), system, t.id.clone(), 1))
}

pub fn event(kind: &str, system: Option<&SystemId>) -> EngineEvent {
    EngineEvent {
        id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        event: kind.into(),
        timestamp: "2026-12-07T22:00:00.000Z".into(),
        system_id: system.map(|s| s.to_string()),
        actor: Actor::default(),
        request_id: None,
        data: json!({"kind": kind}),
    }
}

/// The run of `instance`'s fire number `fire`: one email to send, not started.
pub fn run(instance: &TriggerInstance, fire: u64) -> Run {
    let mailer = Mailer { emails: vec!["ops@example.com".into()], content: "fired".into() };
    let actions = Actions { mailers: vec![mailer], ..Actions::default() };
    let info = FireInfo {
        instance: instance.id.clone(),
        system: instance.control_system_id.clone(),
        trigger: instance.trigger_id.clone(),
        fire,
        fired_at: 1_000 + fire,
    };
    Run::for_fire(info, &actions, "subject", None).expect("a run with one action")
}

/// `run` after its one action's attempt: succeeded, or given up.
pub fn finished(mut run: Run, succeeded: bool) -> Run {
    let attempt = Attempt { started_at: 1, finished_at: 2, latency_ms: 1, succeeded, error: None };
    run.record(0, attempt, None);
    run
}

/// A receipt of a call to `instance` made at `received_at` (epoch ms), answered `status`.
pub fn receipt(instance: &TriggerInstance, received_at: u64, status: u16, fired: bool) -> Receipt {
    Receipt {
        id: ReceiptId::generate(),
        trigger_instance: instance.id.clone(),
        system_id: instance.control_system_id.clone(),
        received_at,
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: BTreeMap::new(),
        remote_addr: None,
        body: "{}".into(),
        body_encoding: BodyEncoding::Utf8,
        body_truncated: false,
        body_size: 2,
        verification: VerificationOutcome::NotConfigured,
        verification_error: None,
        delivery_id: None,
        duplicate: false,
        filtered: false,
        status,
        error: None,
        fired,
        exec: None,
        request_id: String::new(),
        replay_of: None,
    }
}
