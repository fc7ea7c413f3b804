//! Signed inbound webhooks: a trigger's `webhook_verification`, an instance's signing secret and its
//! rotation, and the 401 a call gets when its signature does not verify.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A sender as a table row: how its trigger is set up and how it signs a call.
struct Sender {
    name: &'static str,
    settings: Value,
    secret: String,
    /// A secret of the right form that is not the instance's.
    other_secret: String,
    /// Signs `body` at `timestamp` (epoch seconds) with a secret.
    sign: fn(&str, u64, &[u8]) -> CallHeaders,
    /// The header carrying the signature.
    signature_header: &'static str,
    /// A header carrying only the timestamp, for schemes that have one.
    timestamp_header: Option<&'static str>,
    /// Whether the scheme refuses a timestamp outside its tolerance.
    timestamped: bool,
}

fn standard_webhooks() -> Sender {
    Sender {
        name: "standard_webhooks",
        settings: json!({"scheme": "standard_webhooks", "tolerance_s": 300}),
        secret: sign::whsec(b"switchboard-test-key-of-32-bytes"),
        other_secret: sign::whsec(b"another-key-also-of-32-bytes...."),
        // One message id for every case, so that the expected signature of each case is known.
        sign: |secret, ts, body| sign::standard_webhooks(secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ts, body),
        signature_header: "webhook-signature",
        timestamp_header: Some("webhook-timestamp"),
        timestamped: true,
    }
}

fn github() -> Sender {
    Sender {
        name: "github",
        settings: json!({"scheme": "github"}),
        secret: "It's a Secret to Everybody".into(),
        other_secret: "It's a secret to nobody".into(),
        sign: |secret, _, body| sign::github(secret, body),
        signature_header: "X-Hub-Signature-256",
        timestamp_header: None,
        timestamped: false,
    }
}

fn stripe() -> Sender {
    Sender {
        name: "stripe",
        settings: json!({"scheme": "stripe", "tolerance_s": 300}),
        secret: "whsec_Zk3u9XqT0bP8sLmN4vR7yW2aE5cH1dJ6".into(),
        other_secret: "whsec_Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1L".into(),
        sign: sign::stripe,
        signature_header: "Stripe-Signature",
        timestamp_header: None,
        timestamped: true,
    }
}

fn slack() -> Sender {
    Sender {
        name: "slack",
        settings: json!({"scheme": "slack", "tolerance_s": 300}),
        secret: "8f742231b10e8888abcd99yyyzzz85a5".into(),
        other_secret: "0000000000000000abcd99yyyzzz85a5".into(),
        sign: sign::slack,
        signature_header: "X-Slack-Signature",
        timestamp_header: Some("X-Slack-Request-Timestamp"),
        timestamped: true,
    }
}

fn shopify() -> Sender {
    Sender {
        name: "shopify",
        settings: json!({"scheme": "shopify"}),
        secret: "shopify-app-secret-0123456789abcdef".into(),
        other_secret: "shopify-app-secret-fedcba9876543210".into(),
        sign: |secret, _, body| sign::shopify(secret, body),
        signature_header: "X-Shopify-Hmac-Sha256",
        timestamp_header: None,
        timestamped: false,
    }
}

/// `hmac` configured like a sender that signs the body alone with SHA-512, in base64, behind a prefix.
fn hmac_sha512_base64() -> Sender {
    Sender {
        name: "hmac sha512 base64",
        settings: json!({
            "scheme": "hmac", "header": "X-Signature", "algorithm": "sha512", "encoding": "base64", "prefix": "sha512=",
        }),
        secret: "hmac-secret-0123456789".into(),
        other_secret: "hmac-secret-9876543210".into(),
        sign: |secret, _, body| {
            vec![("X-Signature", format!("sha512={}", sign::base64(&sign::hmac_sha512(secret.as_bytes(), body))))]
        },
        signature_header: "X-Signature",
        timestamp_header: None,
        timestamped: false,
    }
}

/// `hmac` configured like GitHub's legacy `X-Hub-Signature: sha1=<hex>`.
fn hmac_sha1_hex() -> Sender {
    Sender {
        name: "hmac sha1 hex",
        settings: json!({"scheme": "hmac", "header": "X-Hub-Signature", "algorithm": "sha1", "prefix": "sha1="}),
        secret: "legacy-github-secret".into(),
        other_secret: "legacy-gitlab-secret".into(),
        sign: |secret, _, body| {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body);
            vec![("X-Hub-Signature", format!("sha1={}", hex::encode(mac.finalize().into_bytes())))]
        },
        signature_header: "X-Hub-Signature",
        timestamp_header: None,
        timestamped: false,
    }
}

/// `hmac` configured like a sender that signs `{timestamp}.{body}` with SHA-256 in hex.
fn hmac_timestamped() -> Sender {
    Sender {
        name: "hmac with a signed timestamp",
        settings: json!({
            "scheme": "hmac", "header": "X-Hook-Signature", "algorithm": "sha256", "encoding": "hex",
            "timestamp_header": "X-Hook-Timestamp", "signed_payload": "{timestamp}.{body}", "tolerance_s": 300,
        }),
        secret: "hmac-timestamped-secret".into(),
        other_secret: "hmac-timestamped-other".into(),
        sign: |secret, ts, body| {
            let mut signed = format!("{ts}.").into_bytes();
            signed.extend_from_slice(body);
            vec![
                ("X-Hook-Timestamp", ts.to_string()),
                ("X-Hook-Signature", hex::encode(sign::hmac_sha256(secret.as_bytes(), &signed))),
            ]
        },
        signature_header: "X-Hook-Signature",
        timestamp_header: Some("X-Hook-Timestamp"),
        timestamped: true,
    }
}

fn without(headers: &CallHeaders, name: &str) -> CallHeaders {
    headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case(name)).cloned().collect()
}

fn replaced(headers: &CallHeaders, name: &'static str, value: &str) -> CallHeaders {
    let mut out = without(headers, name);
    out.push((name, value.to_owned()));
    out
}

/// The pieces of signed header values that are signatures (long runs between `,`, `=` and spaces).
fn signature_pieces(headers: &CallHeaders) -> Vec<String> {
    headers
        .iter()
        .flat_map(|(_, v)| v.split([',', '=', ' ']).filter(|p| p.len() >= 16).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Asserts a refusal message names no secret and no signature the server computed.
fn assert_reveals_nothing(case: &str, message: &str, secrets: &[&str], expected: &CallHeaders) {
    for secret in secrets {
        assert!(!message.contains(secret), "[{case}] the message names a secret: {message}");
    }
    for piece in signature_pieces(expected) {
        assert!(!message.contains(&piece), "[{case}] the message names the expected signature: {message}");
    }
}

/// Runs one sender's table: every kind of bad signature is a 401 that changes nothing, and only the
/// good signature fires.
async fn assert_only_good_signatures_fire(sender: Sender) {
    // Arrange
    let app = spawn_app().await;
    let hook = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let url = hook.url(&app);
    let body: &[u8] = br#"{"id":"evt_verification","event":"ping","n":1}"#;
    let tampered: &[u8] = br#"{"id":"evt_verification","event":"ping","n":2}"#;
    let now = now_epoch_seconds();
    let sign = |secret: &str, ts: u64, body: &[u8]| (sender.sign)(secret, ts, body);
    let good = sign(&sender.secret, now, body);
    let before = app.hook_state(&hook).await;

    let mut cases: Vec<(String, CallHeaders, &[u8], u64, String)> = vec![
        (
            "signed with another secret".into(),
            sign(&sender.other_secret, now, body),
            body,
            now,
            "no signature matches".into(),
        ),
        ("body changed after signing".into(), good.clone(), tampered, now, "no signature matches".into()),
        (
            "signature header missing".into(),
            without(&good, sender.signature_header),
            body,
            now,
            format!("missing header {}", sender.signature_header).to_lowercase(),
        ),
        (
            "signature header garbled".into(),
            replaced(&good, sender.signature_header, "garbage"),
            body,
            now,
            "malformed".into(),
        ),
        ("no headers at all".into(), vec![], body, now, "missing header".into()),
    ];
    if sender.timestamped {
        for (case, at) in [("timestamp an hour old", now - 3600), ("timestamp an hour ahead", now + 3600)] {
            cases.push((case.into(), sign(&sender.secret, at, body), body, at, "timestamp".into()));
        }
    }
    if let Some(ts_header) = sender.timestamp_header {
        cases.push((
            "timestamp header missing".into(),
            without(&good, ts_header),
            body,
            now,
            format!("missing header {ts_header}").to_lowercase(),
        ));
        let not_a_number = replaced(&good, ts_header, "yesterday");
        cases.push(("timestamp not a number".into(), not_a_number, body, now, "malformed".into()));
    }

    for (case, headers, sent, at, expected_message) in &cases {
        // Act
        let res = app.call_hook(&url, headers, sent.to_vec()).await;

        // Assert
        let case = format!("{}: {case}", sender.name);
        let err = assert_rejected(res, &case, 401, "invalid_signature", None).await;
        let message = err["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(expected_message), "[{case}] says {expected_message:?}: {message}");
        let expected_signature = sign(&sender.secret, *at, sent);
        assert_reveals_nothing(&case, message, &[&sender.secret, &sender.other_secret], &expected_signature);
    }
    assert_eq!(app.hook_state(&hook).await, before, "{}: refused calls change no state", sender.name);

    let res = app.call_hook(&url, &good, body.to_vec()).await;
    let (status, answer) = status_and_body(res).await;
    assert_eq!(status, 202, "{}: the good signature is accepted: {answer}", sender.name);
    assert_eq!((answer["fired"].clone(), answer["trigger_count"].clone()), (json!(true), json!(1)), "{}", sender.name);
}

#[tokio::test]
async fn standard_webhooks_signatures_are_checked() {
    assert_only_good_signatures_fire(standard_webhooks()).await;
}

#[tokio::test]
async fn github_signatures_are_checked() {
    assert_only_good_signatures_fire(github()).await;
}

#[tokio::test]
async fn stripe_signatures_are_checked() {
    assert_only_good_signatures_fire(stripe()).await;
}

#[tokio::test]
async fn slack_signatures_are_checked() {
    assert_only_good_signatures_fire(slack()).await;
}

#[tokio::test]
async fn shopify_signatures_are_checked() {
    assert_only_good_signatures_fire(shopify()).await;
}

#[tokio::test]
async fn hmac_signatures_with_sha512_base64_and_a_prefix_are_checked() {
    assert_only_good_signatures_fire(hmac_sha512_base64()).await;
}

#[tokio::test]
async fn hmac_signatures_with_sha1_hex_are_checked() {
    assert_only_good_signatures_fire(hmac_sha1_hex()).await;
}

#[tokio::test]
async fn hmac_signatures_over_a_timestamp_template_are_checked() {
    assert_only_good_signatures_fire(hmac_timestamped()).await;
}

#[tokio::test]
async fn a_github_call_signed_with_the_wrong_secret_is_refused_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let sender = github();
    let hook = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let body = br#"{"action":"opened"}"#;
    let before = app.hook_state(&hook).await;

    // Act
    let res = app.call_hook(&hook.url(&app), &sign::github("not the secret", body), body.to_vec()).await;

    // Assert
    let err = assert_error(res, 401, "invalid_signature").await;
    assert_eq!(err["message"], "no signature matches");
    let after = app.hook_state(&hook).await;
    assert_eq!(after, before, "no state changed");
    assert_eq!((after["trigger_count"].clone(), after["triggered"].clone()), (json!(0), json!(false)));
}

#[tokio::test]
async fn standard_webhooks_accepts_a_call_when_any_listed_signature_matches() {
    // Arrange: a sender mid-rotation lists a signature under its old key and one under the new.
    let app = spawn_app().await;
    let sender = standard_webhooks();
    let hook = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let body = br#"{"type":"ping"}"#;
    let (msg, now) = (delivery_id("msg_"), now_epoch_seconds());
    let old = sign::standard_webhooks_signature(&sender.other_secret, &msg, now, body);
    let new = sign::standard_webhooks_signature(&sender.secret, &msg, now, body);
    let headers = |signature: String| -> CallHeaders {
        vec![("webhook-id", msg.clone()), ("webhook-timestamp", now.to_string()), ("webhook-signature", signature)]
    };

    // Act
    let only_old = app.call_hook(&hook.url(&app), &headers(format!("v1,{old}")), body.to_vec()).await;
    let both = app.call_hook(&hook.url(&app), &headers(format!("v1,{old} v1,{new}")), body.to_vec()).await;

    // Assert
    assert_error(only_old, 401, "invalid_signature").await;
    assert_eq!(both.status(), 202);
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn the_token_scheme_compares_the_shared_token() {
    // Arrange
    let app = spawn_app().await;
    let token = "glpat-shared-token-0123456789";
    let gitlab = app.signed_hook(json!({"scheme": "token", "header": "X-Gitlab-Token"}), token).await;
    let bearer = app.signed_hook(json!({"scheme": "token"}), token).await;
    let cases: [(&str, &Hook, CallHeaders, u16); 9] = [
        ("X-Gitlab-Token with the token", &gitlab, vec![("X-Gitlab-Token", token.into())], 202),
        ("X-Gitlab-Token with another token", &gitlab, vec![("X-Gitlab-Token", "glpat-other".into())], 401),
        ("X-Gitlab-Token missing", &gitlab, vec![("Authorization", format!("Bearer {token}"))], 401),
        ("Bearer only counts in Authorization", &gitlab, vec![("X-Gitlab-Token", format!("Bearer {token}"))], 401),
        ("Authorization: Bearer token", &bearer, vec![("Authorization", format!("Bearer {token}"))], 202),
        ("Authorization: the bare token", &bearer, vec![("Authorization", token.into())], 202),
        ("Authorization: Bearer another token", &bearer, vec![("Authorization", "Bearer glpat-other".into())], 401),
        ("Authorization: Basic token", &bearer, vec![("Authorization", format!("Basic {token}"))], 401),
        ("Authorization missing", &bearer, vec![("X-Gitlab-Token", token.into())], 401),
    ];

    for (case, hook, headers, status) in &cases {
        // Act
        let res = app.call_hook(&hook.url(&app), headers, "{}").await;

        // Assert
        if *status == 202 {
            assert_eq!(res.status(), 202, "{case}");
        } else {
            let err = assert_rejected(res, case, 401, "invalid_signature", None).await;
            assert!(!err["message"].as_str().unwrap().contains(token), "[{case}] the token is not echoed");
        }
    }
    assert_eq!(app.trigger_count(&gitlab).await, 1);
    assert_eq!(app.trigger_count(&bearer).await, 2);
}

// ---------------------------------------------------------------------------------------------
// Settings on the trigger
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_trigger_keeps_its_verification_settings_and_both_new_fields_default_to_null() {
    // Arrange
    let app = spawn_app().await;
    let plain = app.create_trigger(json!({"name": "Plain", "enable_webhook": true})).await;
    let path = format!("/triggers/{}", id(&plain));

    // Act / Assert: the defaults
    assert_eq!((plain["webhook_verification"].clone(), plain["webhook_filter"].clone()), (Value::Null, Value::Null));
    let fetched = app.get_ok(&path).await;
    assert!(fetched.get("webhook_verification").is_some_and(Value::is_null), "{fetched}");
    assert!(fetched.get("webhook_filter").is_some_and(Value::is_null), "{fetched}");

    // PATCH sets, with the defaults filled in
    let patched = app.send_ok(Method::PATCH, &path, &json!({"webhook_verification": {"scheme": "stripe"}})).await;
    let stripe = &patched["webhook_verification"];
    assert_eq!(
        (stripe["scheme"].clone(), stripe["tolerance_s"].clone(), stripe["require_url_secret"].clone()),
        (json!("stripe"), json!(300), json!(true)),
        "{patched}"
    );
    assert_eq!(app.get_ok(&path).await["webhook_verification"], *stripe, "the GET shows what the PATCH answered");

    // PATCH changes only the given field; null clears
    let other = app.send_ok(Method::PATCH, &path, &json!({"name": "Renamed"})).await;
    assert_eq!(other["webhook_verification"], *stripe, "a PATCH without the field keeps it");
    let cleared = app.send_ok(Method::PATCH, &path, &json!({"webhook_verification": null})).await;
    assert_eq!(cleared["webhook_verification"], Value::Null);

    // PUT replaces: given, then left out
    let settings = json!({"scheme": "token", "header": "X-Gitlab-Token", "require_url_secret": false});
    let put = app.send_ok(Method::PUT, &path, &json!({"name": "Put", "webhook_verification": settings})).await;
    assert_eq!(put["webhook_verification"]["header"], "X-Gitlab-Token");
    assert_eq!(put["webhook_verification"]["require_url_secret"], false);
    let put_without = app.send_ok(Method::PUT, &path, &json!({"name": "Put again"})).await;
    assert_eq!(put_without["webhook_verification"], Value::Null, "PUT without the field resets it");

    // POST with settings
    let created = app
        .create_trigger(
            json!({"name": "Signed", "webhook_verification": {"scheme": "github", "require_url_secret": false}}),
        )
        .await;
    assert_eq!(created["webhook_verification"]["scheme"], "github");
    assert_eq!(created["webhook_verification"]["require_url_secret"], false);
}

#[tokio::test]
async fn invalid_verification_settings_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("not an object", json!("github"), "webhook_verification"),
        ("no scheme", json!({"tolerance_s": 300}), "webhook_verification.scheme"),
        ("unknown scheme", json!({"scheme": "paypal"}), "webhook_verification.scheme"),
        (
            "tolerance as a string",
            json!({"scheme": "stripe", "tolerance_s": "soon"}),
            "webhook_verification.tolerance_s",
        ),
        ("negative tolerance", json!({"scheme": "stripe", "tolerance_s": -1}), "webhook_verification.tolerance_s"),
        ("zero tolerance", json!({"scheme": "stripe", "tolerance_s": 0}), "webhook_verification.tolerance_s"),
        ("unknown field", json!({"scheme": "github", "colour": "red"}), "webhook_verification.colour"),
        (
            "require_url_secret not a boolean",
            json!({"scheme": "github", "require_url_secret": "no"}),
            "webhook_verification.require_url_secret",
        ),
        ("hmac without header", json!({"scheme": "hmac"}), "webhook_verification.header"),
        (
            "unknown algorithm",
            json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "md5"}),
            "webhook_verification.algorithm",
        ),
        (
            "unknown encoding",
            json!({"scheme": "hmac", "header": "X-Sig", "encoding": "base32"}),
            "webhook_verification.encoding",
        ),
        ("header with a space", json!({"scheme": "token", "header": "X Token"}), "webhook_verification.header"),
        (
            "template without {body}",
            json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "payload"}),
            "webhook_verification.signed_payload",
        ),
        (
            "{timestamp} without a timestamp header",
            json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "{timestamp}.{body}"}),
            "webhook_verification.timestamp_header",
        ),
    ];
    for (case, settings, field) in cases {
        let res = app.post("/triggers", &json!({"name": "Bad", "webhook_verification": settings})).await;
        assert_rejected(res, &format!("POST {case}"), 422, "invalid_field", Some(field)).await;
    }

    let trigger = app.create_trigger(json!({"name": "Edited"})).await;
    let path = format!("/triggers/{}", id(&trigger));
    let bad = json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "md5"});
    let res = app.patch(&path, &json!({"webhook_verification": bad})).await;
    assert_rejected(res, "PATCH unknown algorithm", 422, "invalid_field", Some("webhook_verification.algorithm")).await;
    let res = app.put(&path, &json!({"name": "Edited", "webhook_verification": {"scheme": "paypal"}})).await;
    assert_rejected(res, "PUT unknown scheme", 422, "invalid_field", Some("webhook_verification.scheme")).await;
    assert_eq!(app.get_ok(&path).await["webhook_verification"], Value::Null, "refused edits change nothing");
}

// ---------------------------------------------------------------------------------------------
// The instance's signing secret
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn setting_a_signing_secret_answers_without_echoing_it() {
    // Arrange
    let app = spawn_app().await;
    let sender = github();
    let hook = app.hook(json!({"webhook_verification": sender.settings})).await;
    let path = format!("{}/verification_secret", hook.path());

    // Act
    let res = app.post(&path, &json!({"secret": sender.secret})).await;

    // Assert
    let (status, text) = (res.status(), res.text().await.unwrap());
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&sender.secret), "the secret is not echoed: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"trigger_instance": hook.id(), "previous_valid_until": null}));
    let signed = br#"{"zen":"Keep it logically awesome."}"#;
    let res = app.call_hook(&hook.url(&app), &sign::github(&sender.secret, signed), signed.to_vec()).await;
    assert_eq!(res.status(), 202, "the stored secret verifies");
}

#[tokio::test]
async fn a_generated_secret_is_shown_once_in_the_form_the_scheme_uses_and_verifies() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({"webhook_verification": {"scheme": "standard_webhooks"}})).await;

    // Act
    let first = app.set_signing_secret(&hook, json!({})).await;
    let second = app.set_signing_secret(&hook, json!({})).await;

    // Assert
    let secret = second["secret"].as_str().expect("a generated secret is answered");
    let key = secret.strip_prefix("whsec_").unwrap_or_else(|| panic!("{secret} starts with whsec_"));
    let key_bytes = base64_decode(key);
    assert!((24..=64).contains(&key_bytes.len()), "a 24 to 64 byte key, got {}", key_bytes.len());
    assert_ne!(first["secret"], second["secret"], "each generation is new");
    assert_eq!(second["trigger_instance"], hook.id());
    assert!(second["previous_valid_until"].is_u64(), "the first generated secret is now the previous one");

    let body = br#"{"type":"ping"}"#;
    let headers = sign::standard_webhooks(secret, &delivery_id("msg_"), now_epoch_seconds(), body);
    assert_eq!(app.call_hook(&hook.url(&app), &headers, body.to_vec()).await.status(), 202);
    let shown = app.get(&hook.path()).await.text().await.unwrap();
    assert!(!shown.contains(secret) && !shown.contains(key), "never shown again: {shown}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_else(|_| panic!("{text} is base64"))
}

#[tokio::test]
async fn the_instance_shows_whether_a_signing_secret_is_set_but_never_the_secret() {
    // Arrange
    let app = spawn_app().await;
    let sender = stripe();
    let hook = app.hook(json!({"webhook_verification": sender.settings})).await;
    let support = app.key_with_role("support").await;
    let unset = app.hook_state(&hook).await["signing_secret"].clone();

    // Act
    app.set_signing_secret(&hook, json!({"secret": sender.secret})).await;
    let rotated = app.set_signing_secret(&hook, json!({"secret": sender.other_secret})).await;

    // Assert
    assert_eq!(unset["set"], false, "before any secret: {unset}");
    let shown = app.hook_state(&hook).await;
    assert_eq!(
        shown["signing_secret"],
        json!({"set": true, "previous_valid_until": rotated["previous_valid_until"].clone()}),
        "{shown}"
    );
    let as_support = app.with_key(Some(&support), Method::GET, &hook.path()).send().await.unwrap();
    assert_eq!(json(as_support).await["signing_secret"], Value::Null, "support keys see null");
    for path in [
        hook.path(),
        format!("/systems/{}/triggers", hook.system),
        format!("/triggers/{}/instances", hook.trigger),
        format!("/triggers/{}", hook.trigger),
        format!("{}/state", hook.path()),
    ] {
        let text = app.get(&path).await.text().await.unwrap();
        for secret in [&sender.secret, &sender.other_secret] {
            assert!(!text.contains(secret.as_str()), "GET {path} shows a signing secret: {text}");
        }
    }
}

#[tokio::test]
async fn bad_requests_to_set_a_signing_secret_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let signed = app.hook(json!({"webhook_verification": {"scheme": "standard_webhooks"}})).await;
    let unsigned = app.hook(json!({})).await;
    let support = app.key_with_role("support").await;
    let path = |hook: &Hook| format!("{}/verification_secret", hook.path());
    let unknown = format!("/systems/{}/triggers/{}/verification_secret", signed.system, unknown_id("trig-"));
    let cases = [
        (
            "a trigger that verifies nothing",
            path(&unsigned),
            json!({"secret": "s3cret-value"}),
            422,
            "invalid_field",
            None,
        ),
        ("an empty secret", path(&signed), json!({"secret": ""}), 422, "invalid_field", Some("secret")),
        ("a secret that is not a string", path(&signed), json!({"secret": 5}), 422, "invalid_field", Some("secret")),
        (
            "a whsec_ secret too short",
            path(&signed),
            json!({"secret": "whsec_AAAA"}),
            422,
            "invalid_field",
            Some("secret"),
        ),
        ("an unknown field", path(&signed), json!({"key": "x"}), 422, "invalid_field", Some("key")),
        ("an unknown instance", unknown, json!({}), 404, "not_found", None),
    ];

    for (case, path, body, status, code, field) in cases {
        // Act
        let res = app.post(&path, &body).await;

        // Assert
        let err = assert_rejected(res, case, status, code, field).await;
        assert!(!err.to_string().contains("whsec_AAAA"), "[{case}] the secret is not echoed: {err}");
    }
    let res = app.with_key(Some(&support), Method::POST, &path(&signed)).json(&json!({})).send().await.unwrap();
    assert_error(res, 403, "forbidden").await;
    let res = app.with_key(None, Method::POST, &path(&signed)).json(&json!({})).send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
    assert_eq!(app.hook_state(&signed).await["signing_secret"]["set"], false, "nothing was set");
}

#[tokio::test]
async fn a_rotated_out_secret_verifies_during_the_grace_period() {
    // Arrange
    let app = spawn_app().await;
    let sender = github();
    let hook = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let body = br#"{"zen":"Design for failure."}"#;

    // Act
    let rotated = app.set_signing_secret(&hook, json!({"secret": sender.other_secret})).await;

    // Assert
    let until = rotated["previous_valid_until"].as_u64().expect("previous_valid_until is epoch seconds");
    let expected = now_epoch_seconds() + app.config.webhook.verification_grace_s;
    assert!(until + 60 >= expected && until <= expected + 1, "valid until {until}, about {expected}");
    for secret in [&sender.secret, &sender.other_secret] {
        let res = app.call_hook(&hook.url(&app), &sign::github(secret, body), body.to_vec()).await;
        assert_eq!(res.status(), 202, "both secrets verify during the grace period");
    }
    let res = app.call_hook(&hook.url(&app), &sign::github("a third secret", body), body.to_vec()).await;
    assert_error(res, 401, "invalid_signature").await;
    assert_eq!(app.trigger_count(&hook).await, 2);
}

#[tokio::test]
async fn a_rotated_out_secret_stops_verifying_after_the_grace_period() {
    // Arrange
    let app = spawn_app_with(|c| c.webhook.verification_grace_s = 1).await;
    let sender = github();
    let hook = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let body = br#"{"zen":"Approachable is better than simple."}"#;

    // Act
    app.set_signing_secret(&hook, json!({"secret": sender.other_secret})).await;

    // Assert
    let old_refused = || async {
        let res = app.call_hook(&hook.url(&app), &sign::github(&sender.secret, body), body.to_vec()).await;
        match res.status().as_u16() {
            202 => None,
            401 => Some(json(res).await),
            other => panic!("the old secret got {other}"),
        }
    };
    let err = eventually(10, "the old secret to stop verifying", old_refused).await;
    assert_eq!(err["error"], "invalid_signature");
    let res = app.call_hook(&hook.url(&app), &sign::github(&sender.other_secret, body), body.to_vec()).await;
    assert_eq!(res.status(), 202, "the new secret still verifies");
}

// ---------------------------------------------------------------------------------------------
// A signature in place of the URL secret
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_require_url_secret_a_verified_signature_replaces_the_url_secret() {
    // Arrange
    let app = spawn_app().await;
    let sender = github();
    let mut settings = sender.settings.clone();
    settings["require_url_secret"] = json!(false);
    let open = app.signed_hook(settings, &sender.secret).await;
    let strict = app.signed_hook(sender.settings.clone(), &sender.secret).await;
    let plain = app.hook(json!({})).await;
    let body = br#"{"action":"closed"}"#;
    let good = sign::github(&sender.secret, body);
    let bad = sign::github(&sender.other_secret, body);
    let unsigned = CallHeaders::new();
    let wrong_secret_url = app.api(&format!("/webhook/{}/notify?secret=wrong", open.id()));
    let cases: [(&str, String, &CallHeaders, u16, &str); 7] = [
        ("no URL secret, good signature", open.bare_url(&app), &good, 202, ""),
        ("no URL secret, wrong signature", open.bare_url(&app), &bad, 401, "invalid_signature"),
        ("no URL secret, no signature", open.bare_url(&app), &unsigned, 401, "invalid_signature"),
        ("wrong URL secret, good signature", wrong_secret_url, &good, 404, "not_found"),
        ("right URL secret, good signature", open.url(&app), &good, 202, ""),
        ("a trigger that requires the URL secret", strict.bare_url(&app), &good, 422, "missing_secret"),
        ("a trigger without verification", plain.bare_url(&app), &good, 422, "missing_secret"),
    ];

    for (case, url, headers, status, code) in cases {
        // Act
        let res = app.call_hook(&url, headers, body.to_vec()).await;

        // Assert
        if status == 202 {
            let (got, answer) = status_and_body(res).await;
            assert_eq!(got, 202, "[{case}] {answer}");
            assert_eq!(answer["fired"], true, "[{case}]");
        } else {
            assert_eq!(res.status(), status, "[{case}]");
            assert_error(res, status, code).await;
        }
    }
    assert_eq!(app.trigger_count(&open).await, 2);
    assert_eq!(app.trigger_count(&strict).await, 0);
    assert_eq!(app.trigger_count(&plain).await, 0);
}
