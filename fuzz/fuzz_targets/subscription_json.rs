//! `POST /webhooks` and `PATCH /webhooks/{id}` bodies (outbound subscriptions): every accepted one is
//! stored and read back unchanged, and its URL can be delivered to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::domain::ids::SubscriptionId;
use switchboard::outbound::subscription::{
    NewSubscription, SigningSecret, Subscription, SubscriptionIn, SubscriptionPatch,
};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if !body.is_object() {
        return;
    }
    let _ = switchboard::domain::from_json::<SubscriptionPatch>(&body);
    let Ok(input) = switchboard::domain::from_json::<SubscriptionIn>(&body) else { return };
    let Ok(new) = NewSubscription::try_from(input) else { return };

    new.url.to_url().expect("an accepted URL can be delivered to");
    let sub = Subscription {
        id: SubscriptionId::parse("wh-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f").unwrap(),
        name: new.name,
        url: new.url,
        events: new.events,
        system_id: new.system_id,
        enabled: new.enabled,
        paused_at: None,
        consecutive_failures: 0,
        last_failure_reason: None,
        auth_header: new.auth_header,
        secret: SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        previous_secret: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let stored = serde_json::to_vec(&sub).expect("a subscription serializes");
    let loaded: Subscription = match serde_json::from_slice(&stored) {
        Ok(loaded) => loaded,
        Err(e) => panic!("an accepted subscription does not load back: {e}\n{}", String::from_utf8_lossy(&stored)),
    };
    assert_eq!(
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(&sub).unwrap(),
        "an accepted subscription changes when stored"
    );
});
