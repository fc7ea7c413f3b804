//! Placeholders at both ends: the actions of a trigger (`{"$payload": …}`, `{{status.Display_1.power}}`
//! and the like in function args, request URLs, headers and bodies, mailer content) checked as when it
//! is saved, then resolved against a firing call's body as when its run executes. Never a panic; a
//! resolved header value holds no ASCII control character but the tabs its admin wrote; a run is stored and
//! read back unchanged.
//!
//! Input: the actions as JSON (`{"functions": […], "mailers": […], "requests": […]}`) on the first
//! line, the firing call's body after it. A first line that is not such JSON is tried as a template.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::domain::placeholder::{self, Values};
use switchboard::domain::run::{Action, FireInfo, Run};
use switchboard::domain::trigger::{Actions, TriggerSpec};
use switchboard::domain::{InstanceId, SystemId, TriggerId};

/// Values for a template on its own: the body's pointers, and every status the body itself.
struct Body<'a>(Option<&'a Value>);

impl Values for Body<'_> {
    fn payload(&self, pointer: &str) -> Value {
        self.0.and_then(|p| p.pointer(pointer)).cloned().unwrap_or(Value::Null)
    }
    fn status(&self, _: &str) -> Value {
        self.0.cloned().unwrap_or(Value::Null)
    }
    fn fire(&self, field: &str) -> Value {
        Value::from(field)
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let payload: Option<Value> = serde_json::from_slice(body).ok();

    let actions =
        serde_json::from_slice::<Value>(first).ok().and_then(|v| switchboard::domain::from_json::<Actions>(&v).ok());
    let Some(actions) = actions else {
        let Ok(text) = std::str::from_utf8(first) else { return };
        if placeholder::collect_in_str(text).is_ok() {
            let _ = placeholder::interpolate(text, &Body(payload.as_ref()), &|s| format!("<{s}>"));
        }
        return;
    };
    let spec = TriggerSpec { actions, ..TriggerSpec::webhook_only("fuzz") };
    if spec.validate().is_err() {
        return;
    }
    let fire = FireInfo {
        instance: InstanceId::parse("trig-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f").unwrap(),
        system: SystemId::parse("sys-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f").unwrap(),
        trigger: TriggerId::parse("trigger-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f").unwrap(),
        fire: 7,
        fired_at: 1_700_000_000_000,
    };
    let payload = payload.filter(|_| spec.actions.use_payload());
    let Some(mut run) = Run::for_fire(fire, &spec.actions, &spec.name, payload) else { return };
    let statuses = run.status_refs().into_iter().map(|(module, status)| {
        let key = placeholder::Placeholder::status_key(&module, &status);
        (key, run.payload.clone().unwrap_or_else(|| Value::from(status)))
    });
    run.statuses = Some(statuses.collect());

    for action in &run.actions {
        if let Action::Request(request) = action.action.resolved(&run) {
            for (name, value) in &request.headers {
                assert!(!value.chars().any(|c| c.is_ascii_control() && c != '\t'), "header {name}: {value:?}");
            }
        }
    }
    let stored = serde_json::to_vec(&run).expect("a run serializes");
    match serde_json::from_slice::<Run>(&stored) {
        Ok(loaded) => assert_eq!(loaded, run, "a run changes when stored"),
        Err(e) => panic!("a run does not load back: {e}\n{}", String::from_utf8_lossy(&stored)),
    }
});
