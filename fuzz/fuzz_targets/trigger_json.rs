//! A `POST /triggers` body (conditions, actions with placeholders, webhook filter and verification,
//! schedules) to the spec the engine stores, and what must hold of every accepted one: it is stored and
//! read back unchanged, and its own JSON sent back as a body gives the same spec (GET, edit, PUT).
//! The same body as a PATCH must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::domain::trigger::Trigger;
use switchboard::domain::TriggerId;
use switchboard::engine::inputs::TriggerPatch;
use switchboard::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = switchboard::domain::from_json::<TriggerPatch>(&body);
    let Ok(spec) = fuzzing::trigger_spec(&body) else { return };

    let trigger = Trigger {
        id: TriggerId::parse("trigger-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f").unwrap(),
        spec,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let stored = serde_json::to_vec(&trigger).expect("a trigger serializes");
    let loaded: Trigger = match serde_json::from_slice(&stored) {
        Ok(loaded) => loaded,
        Err(e) => panic!("an accepted trigger does not load back: {e}\n{}", String::from_utf8_lossy(&stored)),
    };
    assert_eq!(loaded, trigger, "an accepted trigger changes when stored");

    let shown = serde_json::to_value(&trigger.spec).expect("a spec serializes");
    match fuzzing::trigger_spec(&shown) {
        Ok(again) => assert_eq!(again, trigger.spec, "an accepted trigger sent back changes"),
        Err(e) => panic!("an accepted trigger sent back is refused: {e}\n{shown}"),
    }
});
