//! A trigger webhook's request target (`/api/engine/v2/webhook/{id}/notify…?…`): routing, the secret
//! and exec parameters from the path or the query, and the two redactions of it (the logged target and
//! the receipt's query), which must never let a secret through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::domain::module::ModuleRef;
use switchboard::fuzzing;

const REDACTED: &str = "[redacted]";

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    // Every request is logged, routed or not: no `secret` value, as the server decodes keys, survives
    // (an empty one is no secret: the server reads it as none).
    let logged = switchboard::telemetry::redact_target(path, query);
    if let Some((_, logged_query)) = logged.split_once('?') {
        for (key, value) in form_urlencoded::parse(logged_query.as_bytes()) {
            assert!(
                !key.eq_ignore_ascii_case("secret") || value.is_empty() || value == REDACTED,
                "{target:?} logged as {logged:?}"
            );
        }
    }
    let stored = fuzzing::receipt_query(query);
    for (key, value) in form_urlencoded::parse(stored.as_bytes()) {
        assert!(key != "secret" || value.is_empty() || value == REDACTED, "{query:?} stored as {stored:?}");
    }

    let Some(call) = fuzzing::notify_call(target) else { return };
    let param = |name: &str| call.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(secret) = param("secret") {
        assert_eq!(call.secret, secret, "the path's secret is the one used");
        // `/api/engine/v2/webhook/{trig_id}/notify/{secret}`: the eighth segment.
        let logged_path = switchboard::telemetry::redact_target(&call.path, "");
        assert_eq!(logged_path.split('/').nth(7), Some(REDACTED), "{target:?} logged as {logged_path:?}");
    }
    if let Some(Ok((module, method))) = call.exec {
        assert!(module.index() >= 1 && !method.is_empty(), "{target:?}: {module} {method:?}");
        assert_eq!(ModuleRef::parse(&module.to_string()).ok(), Some(module.clone()), "{target:?}");
    }
});
