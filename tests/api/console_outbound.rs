//! The console's outbound webhook, callout and API key pages, in Debian's headless Chromium against
//! the real server, and their protections over plain HTTP.

use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::console_http::*;
use crate::helpers::*;

/// An app that may deliver to (and ask) 127.0.0.1.
async fn private_app() -> TestApp {
    spawn_app_with(|c| c.outbound.allow_private_networks = true).await
}

/// GETs a console page over HTTP: its status and body.
async fn console_get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = raw_client().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// The page's HTML as the browser holds it.
async fn source(browser: &Browser) -> String {
    browser.client.source().await.unwrap()
}

/// Whether an element matches `css` on the page now.
async fn present(browser: &Browser, css: &str) -> bool {
    !browser.client.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

/// The texts of every button on the page.
async fn buttons(browser: &Browser) -> Vec<String> {
    let mut texts = Vec::new();
    for button in browser.client.find_all(Locator::Css("button")).await.unwrap() {
        texts.push(button.text().await.unwrap());
    }
    texts
}

/// Clicks a button that asks for confirmation, and accepts it.
async fn click_and_confirm(browser: &Browser, text: &str) {
    browser.click_button(text).await;
    eventually(10, "the confirmation dialog", || async { browser.client.accept_alert().await.ok() }).await;
}

/// The secret shown once after a create or a rotation, with its warning.
async fn shown_secret(browser: &Browser) -> String {
    let warning = browser.text(".secret [role=alert]").await;
    assert!(warning.contains("will not be shown again"), "the secret comes with its warning: {warning}");
    browser.text("#secret").await
}

/// Goes on from a secret shown once to the page it belongs to, where it is no longer shown.
async fn leave_secret(browser: &Browser, secret: &str, path: &str) -> String {
    browser.client.find(Locator::LinkText("I have copied it")).await.unwrap().click().await.unwrap();
    let path = browser.reach(path).await;
    assert!(!present(browser, "#secret").await, "the secret is gone from {path}");
    assert!(!source(browser).await.contains(secret), "the secret is nowhere on {path}");
    path
}

/// Whether a delivery carries a Standard Webhooks signature made with `secret`.
fn signed_with(secret: &str, r: &ReceivedRequest) -> bool {
    let (msg, ts) = (r.expect_header("webhook-id"), r.expect_header("webhook-timestamp").parse().unwrap());
    let expected = sign::standard_webhooks_signature(secret, msg, ts, r.body.as_bytes());
    r.expect_header("webhook-signature").split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Outbound webhooks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_subscribes_a_receiver_sees_the_secret_once_and_sends_a_test_event_at_both_widths() {
    for width in WIDTHS {
        // Arrange
        let app = private_app().await;
        let system = app.create_system("Lobby").await;
        let receiver = TestReceiver::start().await;
        let browser = Browser::start(width).await;
        browser.sign_in(&app.url(""), &app.admin_key).await;
        browser.reach("/console/systems").await;
        browser.goto(&app.url("/console/webhooks")).await;
        assert!(browser.text("p.empty").await.contains("No subscriptions"), "[{width}]");

        // Act: subscribe the receiver through the form.
        browser.fill("Name", "Ops").await;
        browser.fill("URL", &receiver.url("/hook")).await;
        browser.tick("trigger.fired").await;
        browser.tick("subscription.paused").await;
        browser.choose("System", "Lobby").await;
        browser.fill("Auth header name", "X-Token").await;
        browser.fill("Auth header value", "hunter2").await;
        browser.submit("Create subscription").await;

        // Assert: the subscription's page, with its secret once.
        assert_eq!(browser.text("h1").await, "Ops", "[{width}]");
        let secret = shown_secret(&browser).await;
        assert!(secret.starts_with("whsec_"), "[{width}] {secret}");
        let (subs, _) = app.list("/webhooks").await;
        assert_eq!(subs.len(), 1, "[{width}] one subscription");
        let sub = &subs[0];
        assert_eq!(
            (&sub["url"], &sub["events"], &sub["system_id"], &sub["auth_header"], &sub["enabled"]),
            (
                &json!(receiver.url("/hook")),
                &json!(["trigger.fired", "subscription.paused"]),
                &system["id"],
                &json!({ "name": "X-Token" }),
                &json!(true)
            ),
            "[{width}] {sub}"
        );
        assert!(sub.get("secret").is_none(), "[{width}] the API never shows it again");
        let page = format!("/console/webhooks/{}", id(sub));
        assert!(!source(&browser).await.contains("hunter2"), "[{width}] the auth header value is never shown");

        // Act: on to the subscription's page; it no longer shows the secret.
        leave_secret(&browser, &secret, &page).await;
        assert!(browser.text("p.empty").await.contains("No delivery"), "[{width}]");

        // Act: send a test event.
        browser.submit("Send test event").await;

        // Assert: the outcome and the attempt in the delivery log on the page.
        browser.reach(&page).await;
        let outcome = browser.text("[role=status]").await;
        assert!(outcome.contains("delivered") && outcome.contains("HTTP 200"), "[{width}] {outcome}");
        let row = browser.text("table.log tbody tr").await;
        assert!(row.contains("test") && row.contains("HTTP 200") && row.contains("delivered"), "[{width}] {row}");
        assert!(row.contains(" ms"), "[{width}] the duration: {row}");
        browser.screenshot(&format!("webhook-{width}")).await;

        // Assert: the receiver got it, signed with the secret shown, with the auth header.
        let got = receiver.wait_for_on("/hook", 1, 10).await;
        assert_eq!(got.len(), 1, "[{width}] one delivery");
        assert_eq!(got[0].json()["event"], "test", "[{width}]");
        assert_eq!(got[0].header("x-token"), Some("hunter2"), "[{width}]");
        assert!(signed_with(&secret, &got[0]), "[{width}] signed with the secret the page showed");

        // Assert: the list shows it enabled.
        browser.goto(&app.url("/console/webhooks")).await;
        assert_eq!(browser.text("td a").await, "Ops", "[{width}]");
        let row = browser.text("tbody tr").await;
        assert!(row.contains("trigger.fired, subscription.paused") && row.contains("Enabled"), "[{width}] {row}");
        browser.screenshot(&format!("webhooks-{width}")).await;
    }
}

#[tokio::test]
async fn an_admin_edits_rotates_resumes_and_deletes_a_subscription() {
    // Arrange: a subscription the receiver refuses, paused after one failure.
    let app = spawn_app_with(|c| {
        c.outbound.allow_private_networks = true;
        c.outbound.pause_after_failures = 1;
        c.outbound.retry_schedule_ms = vec![60_000];
    })
    .await;
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let body = json!({ "name": "Ops", "url": receiver.url("/hook"), "events": ["system.created"] });
    let sub = app.create("/webhooks", body).await;
    let first_secret = sub["secret"].as_str().unwrap().to_owned();
    app.create_system("Lobby").await;
    let page = format!("/console/webhooks/{}", id(&sub));
    eventually(10, "the subscription to pause", || async {
        app.get_ok(&format!("/webhooks/{}", id(&sub))).await["paused_at"].as_u64()
    })
    .await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;

    // Assert: the page says it is paused, and why.
    browser.goto(&app.url(&page)).await;
    let held = browser.text("#resume + p").await;
    assert!(held.contains("Paused at") && held.contains("500"), "why it paused: {held}");
    assert!(browser.text("table.log tbody tr").await.contains("system.created"), "the failed attempt is logged");

    // Act: enable it, with the receiver well again.
    receiver.respond_with(200);
    browser.submit("Enable").await;

    // Assert: no longer paused, and the kept event went out.
    browser.reach(&page).await;
    assert!(!browser.has_button("Enable").await, "nothing to resume");
    let state = app.get_ok(&format!("/webhooks/{}", id(&sub))).await;
    assert_eq!((&state["paused_at"], &state["enabled"]), (&Value::Null, &json!(true)), "{state}");
    receiver.wait_for_on("/hook", 2, 10).await;

    // Act: edit the name and events.
    browser.fill("Name", "Ops desk").await;
    browser.tick("trigger.fired").await;
    browser.submit("Save changes").await;

    // Assert
    browser.reach(&page).await;
    assert_eq!(browser.text("h1").await, "Ops desk");
    let state = app.get_ok(&format!("/webhooks/{}", id(&sub))).await;
    assert_eq!((&state["name"], &state["events"]), (&json!("Ops desk"), &json!(["trigger.fired", "system.created"])));

    // Act: rotate the secret, confirming.
    click_and_confirm(&browser, "Rotate secret").await;

    // Assert: a new secret, shown once.
    let second_secret = shown_secret(&browser).await;
    assert!(second_secret.starts_with("whsec_") && second_secret != first_secret, "{second_secret}");
    leave_secret(&browser, &second_secret, &page).await;

    // Act: delete it, confirming.
    click_and_confirm(&browser, "Delete subscription").await;

    // Assert
    browser.reach("/console/webhooks").await;
    assert!(browser.text("p.empty").await.contains("No subscriptions"));
    assert_eq!(app.list("/webhooks").await.1, 0);
}

/// A case of a refused subscription form: its name, the URL typed, the events ticked, the auth header
/// name typed, the id of the input the message is shown at, and a part of the message.
type RefusedCase = (&'static str, &'static str, &'static [&'static str], &'static str, &'static str, &'static str);

#[tokio::test]
async fn a_refused_subscription_field_is_shown_at_its_input() {
    // Arrange
    let app = private_app().await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    let cases: [RefusedCase; 4] = [
        ("not http", "ftp://x", &["All events (*)"], "", "f-url", "url"),
        ("no URL", "", &["test"], "", "f-url", "required"),
        ("no event", "http://127.0.0.1:9/hook", &[], "", "f-events", "at least one event"),
        (
            "a reserved header",
            "http://127.0.0.1:9/hook",
            &["test"],
            "Content-Type",
            "f-auth_header-name",
            "Content-Type",
        ),
    ];

    for (case, url, events, header, field, message) in cases {
        // Act
        browser.goto(&app.url("/console/webhooks")).await;
        browser.fill("Name", "Ops").await;
        browser.fill("URL", url).await;
        for event in events {
            browser.tick(event).await;
        }
        browser.fill("Auth header name", header).await;
        browser.fill("Auth header value", "x").await;
        browser.submit("Create subscription").await;

        // Assert: the message at its field, what was typed kept, nothing created.
        let error = browser.text(&format!("#{field}-error")).await;
        assert!(error.contains(message), "[{case}] the server's message at the field: {error}");
        let notice = browser.text("main > .error[role=alert]").await;
        assert!(notice.contains("Nothing was saved") && notice.contains(message), "[{case}] said at the top: {notice}");
        if field != "f-events" {
            let invalid = format!("return document.getElementById('{field}').getAttribute('aria-invalid')");
            assert_eq!(browser.client.execute(&invalid, vec![]).await.unwrap(), json!("true"), "[{case}]");
        }
        let kept = browser.client.execute("return document.getElementById('f-url').value", vec![]).await.unwrap();
        assert_eq!(kept, json!(url), "[{case}] the URL typed is kept");
        assert_eq!(app.list("/webhooks").await.1, 0, "[{case}] nothing was created");
        if case == "not http" {
            browser.screenshot("webhook-refused-390").await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Callouts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_callout_made_in_the_form_shows_its_secret_once_logs_an_exec_and_is_edited_rotated_and_deleted() {
    for width in WIDTHS {
        callout_flow(width).await;
    }
}

/// The callout pages' whole flow in a window `width` pixels wide.
async fn callout_flow(width: u32) {
    eprintln!("the callout flow at {width} px");
    // Arrange: a system with a display, a webhook instance that may exec, and a callout service.
    let app = private_app().await;
    let system = id(&app.create_system("Boardroom").await).to_owned();
    app.create_module("Display", Some(&system)).await;
    let trigger =
        json!({ "name": "Exec", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"] });
    let trigger = id(&app.create_trigger(trigger).await).to_owned();
    let instance = app
        .create(&format!("/systems/{system}/triggers"), json!({ "trigger_id": trigger, "exec_enabled": true }))
        .await;
    let hook = Hook { system: system.clone(), trigger, instance };
    let receiver = TestReceiver::start().await;
    receiver.respond_on("/callout", Reply::status(204));
    let browser = Browser::start(width).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url("/console/callouts")).await;

    // Act: create a callout through the form.
    browser.fill("Name", "Bookings").await;
    browser.fill("URL", &receiver.url("/callout")).await;
    browser.choose("System", "Boardroom").await;
    browser.fill("Match modules", "Display_*").await;
    browser.fill("Match methods", "request, power").await;
    browser.fill("Timeout (ms, 100 to 10000)", "1500").await;
    browser.choose("When it cannot be asked", "Allow").await;
    browser.submit("Create callout").await;

    // Assert: its page with the secret once, and the callout as the API has it.
    assert_eq!(browser.text("h1").await, "Bookings");
    let secret = shown_secret(&browser).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (callouts, _) = app.list("/callouts").await;
    let callout = &callouts[0];
    let expected = json!({ "modules": ["Display_*"], "methods": ["request", "power"], "triggers": [] });
    assert_eq!(
        (&callout["on"], &callout["system_id"], &callout["match"], &callout["timeout_ms"], &callout["failure_policy"]),
        (&json!(["exec"]), &json!(system), &expected, &json!(1500), &json!("allow")),
        "{callout}"
    );
    let page = format!("/console/callouts/{}", id(callout));
    leave_secret(&browser, &secret, &page).await;
    assert!(browser.text("p.empty").await.contains("not been asked"), "an empty log");

    // Act: an exec through the webhook, which the callout is asked about.
    let exec = format!("{}&exec=true&mod=Display&index=1&method=request", hook.url(&app));
    let res = app.call_hook(&exec, &[], json!({ "power": true }).to_string()).await;
    assert_eq!(res.status(), 200, "the callout allowed it");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();

    // Assert: the log on the page.
    browser.goto(&app.url(&page)).await;
    let row = browser.text("table.log tbody tr").await;
    for part in ["exec", "Display_1.request", "HTTP 204", "allow · allowed", &request_id, hook.id()] {
        assert!(row.contains(part), "the log row shows {part}: {row}");
    }
    assert!(signed_with(&secret, &receiver.received_on("/callout")[0]), "asked with the secret shown");
    browser.screenshot(&format!("callout-{width}")).await;
    browser.goto(&app.url(&format!("{page}#log"))).await;
    browser.screenshot(&format!("callout-log-{width}")).await;

    // Act: a timeout out of range, then a good edit.
    browser.fill("Timeout (ms, 100 to 10000)", "50").await;
    browser.submit("Save changes").await;
    let error = browser.text("#f-timeout_ms-error").await;
    assert!(error.contains("between 100 and 10000"), "the refusal at its field: {error}");
    assert_eq!(app.get_ok(&format!("/callouts/{}", id(callout))).await["timeout_ms"], 1500, "nothing changed");
    browser.fill("Name", "Room bookings").await;
    browser.fill("Timeout (ms, 100 to 10000)", "3000").await;
    browser.submit("Save changes").await;

    // Assert
    browser.reach(&page).await;
    assert_eq!(browser.text("h1").await, "Room bookings");
    let stored = app.get_ok(&format!("/callouts/{}", id(callout))).await;
    assert_eq!(
        (&stored["name"], &stored["timeout_ms"], &stored["match"]),
        (&json!("Room bookings"), &json!(3000), &expected)
    );

    // Act: rotate the secret, confirming.
    click_and_confirm(&browser, "Rotate secret").await;

    // Assert: the new secret once, and the next question signed with it.
    let rotated = shown_secret(&browser).await;
    assert!(rotated.starts_with("whsec_") && rotated != secret, "{rotated}");
    leave_secret(&browser, &rotated, &page).await;
    assert_eq!(app.call_hook(&exec, &[], json!({ "power": false }).to_string()).await.status(), 200);
    assert!(signed_with(&rotated, &receiver.received_on("/callout")[1]), "asked with the rotated secret");

    // Assert: the list.
    browser.goto(&app.url("/console/callouts")).await;
    let row = browser.text("tbody tr").await;
    assert!(row.contains("Room bookings") && row.contains("Boardroom") && row.contains("Enabled"), "{row}");
    browser.screenshot(&format!("callouts-{width}")).await;

    // Act: delete it, confirming.
    browser.goto(&app.url(&page)).await;
    click_and_confirm(&browser, "Delete callout").await;

    // Assert
    browser.reach("/console/callouts").await;
    assert!(browser.text("p.empty").await.contains("No callouts"));
    assert_eq!(app.list("/callouts").await.1, 0);
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_makes_an_api_key_sees_it_once_and_deletes_it_at_both_widths() {
    for width in WIDTHS {
        // Arrange
        let app = spawn_app().await;
        let browser = Browser::start(width).await;
        browser.sign_in(&app.url(""), &app.admin_key).await;
        browser.reach("/console/systems").await;
        browser.goto(&app.url("/console/api-keys")).await;

        // Act
        browser.fill("Name", "backoffice").await;
        browser.choose("Role", "support").await;
        browser.submit("Create key").await;

        // Assert: the key once, and it works as a support key.
        let key = shown_secret(&browser).await;
        assert!(key.starts_with("sbk_"), "[{width}] {key}");
        assert_eq!(app.with_key(Some(&key), Method::GET, "/systems").send().await.unwrap().status(), 200);
        assert_eq!(
            app.with_key(Some(&key), Method::POST, "/systems")
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        browser.screenshot(&format!("api-key-created-{width}")).await;
        leave_secret(&browser, &key, "/console/api-keys").await;
        let row = browser.text("tbody tr").await;
        assert!(row.contains("backoffice") && row.contains("support"), "[{width}] {row}");
        browser.screenshot(&format!("api-keys-{width}")).await;

        // Act: delete it, confirming.
        click_and_confirm(&browser, "Delete").await;

        // Assert: gone from the list, and it no longer works.
        browser.reach("/console/api-keys").await;
        assert!(browser.text("p.empty").await.contains("No stored keys"), "[{width}]");
        assert_eq!(app.with_key(Some(&key), Method::GET, "/systems").send().await.unwrap().status(), 401);
    }
}

#[tokio::test]
async fn a_refused_api_key_name_is_shown_at_its_input() {
    let app = spawn_app().await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url("/console/api-keys")).await;

    browser.fill("Name", "   ").await;
    browser.submit("Create key").await;

    assert!(browser.text("#f-name-error").await.contains("name"));
    assert!(!present(&browser, "#secret").await, "no key was shown");
    assert_eq!(app.list("/api_keys").await.1, 0, "nothing was created");
}

// ---------------------------------------------------------------------------------------------
// Support keys and forged forms
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_support_key_reads_subscriptions_and_callouts_without_secrets_or_controls() {
    // Arrange: a subscription and a callout whose URLs carry credentials, made over the API.
    let app = private_app().await;
    let body = json!({
        "name": "Ops", "url": "http://user:PASSWD@127.0.0.1:9/hook?token=QTOKEN", "events": ["*"],
        "auth_header": { "name": "X-Token", "value": "HUNTER2" },
    });
    let sub = app.create("/webhooks", body).await;
    let body = json!({ "name": "Bookings", "url": "http://127.0.0.1:9/ask?key=KTOKEN", "on": ["exec", "actions"] });
    let callout = app.create("/callouts", body).await;
    let secrets =
        ["PASSWD", "QTOKEN", "HUNTER2", "KTOKEN", sub["secret"].as_str().unwrap(), callout["secret"].as_str().unwrap()];
    let support = app.key_with_role("support").await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &support).await;
    browser.reach("/console/systems").await;

    let pages = [
        ("webhooks", "/console/webhooks".to_owned(), "Ops", "http://127.0.0.1:9/hook?token=[redacted]"),
        ("subscription", format!("/console/webhooks/{}", id(&sub)), "Ops", "http://127.0.0.1:9/hook?token=[redacted]"),
        ("callouts", "/console/callouts".to_owned(), "Bookings", "http://127.0.0.1:9/ask?key=[redacted]"),
        ("callout", format!("/console/callouts/{}", id(&callout)), "Bookings", "http://127.0.0.1:9/ask?key=[redacted]"),
    ];
    for (case, path, name, url) in pages {
        // Act
        browser.goto(&app.url(&path)).await;
        browser.reach_exactly(&path).await;

        // Assert: what it is, its URL without credentials, no secret, no control but signing out.
        let html = eventually(10, &format!("[{case}] the page to show {name}"), || async {
            Some(source(&browser).await).filter(|html| html.contains(name))
        })
        .await;
        assert!(browser.text("main").await.contains(url), "[{case}] the URL as support keys see it");
        for secret in secrets {
            assert!(!html.contains(secret), "[{case}] {secret} is not on the page");
        }
        assert_eq!(buttons(&browser).await, vec!["Sign out"], "[{case}] no control it may not use");
        assert!(!present(&browser, "main form").await, "[{case}] no form");
        browser.screenshot(&format!("support-{case}-390")).await;
    }

    // And API keys are not for it: the nav hides them, the page refuses.
    assert!(!present(&browser, "nav a[href='/console/api-keys']").await);
    browser.goto(&app.url("/console/api-keys")).await;
    assert!(browser.text("[role=alert]").await.contains("only read"));
}

#[tokio::test]
async fn every_change_here_needs_the_sessions_csrf_token_and_an_admin() {
    // Arrange: one of each, a receiver that would hear a test, and sessions for both roles.
    let app = private_app().await;
    let receiver = TestReceiver::start().await;
    let sub = app.create("/webhooks", json!({ "name": "Ops", "url": receiver.url("/hook"), "events": ["test"] })).await;
    let callout =
        app.create("/callouts", json!({ "name": "Bookings", "url": receiver.url("/callout"), "on": ["exec"] })).await;
    let key = app.create("/api_keys", json!({ "name": "kept", "role": "support" })).await;
    let support = key["key"].as_str().unwrap().to_owned();
    let admin_cookie = session_cookie(&app, &app.admin_key).await;
    let admin_csrf = csrf_of(&app, &admin_cookie, "/console/webhooks").await;
    let support_cookie = session_cookie(&app, &support).await;
    let support_csrf = csrf_of(&app, &support_cookie, "/console/webhooks").await;
    let (wh, co) = (format!("/console/webhooks/{}", id(&sub)), format!("/console/callouts/{}", id(&callout)));
    let writes: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/console/webhooks".into(), vec![("name", "X"), ("url", "http://127.0.0.1:9/"), ("events", "*")]),
        (wh.clone(), vec![("name", "X"), ("url", "http://127.0.0.1:9/"), ("events", "*")]),
        (format!("{wh}/enable"), vec![]),
        (format!("{wh}/test"), vec![]),
        (format!("{wh}/rotate-secret"), vec![]),
        (format!("{wh}/delete"), vec![]),
        ("/console/callouts".into(), vec![("name", "X"), ("url", "http://127.0.0.1:9/"), ("on", "exec")]),
        (co.clone(), vec![("name", "X"), ("url", "http://127.0.0.1:9/"), ("on", "exec")]),
        (format!("{co}/rotate-secret"), vec![]),
        (format!("{co}/delete"), vec![]),
        ("/console/api-keys".into(), vec![("name", "X"), ("role", "admin")]),
        (format!("/console/api-keys/{}/delete", id(&key)), vec![]),
    ];
    let sessions = [
        ("admin without a token", &admin_cookie, None, "code: csrf"),
        ("admin with another token", &admin_cookie, Some("0".repeat(64)), "code: csrf"),
        ("support with its token", &support_cookie, Some(support_csrf.clone()), "code: forbidden"),
    ];

    for (path, fields) in &writes {
        for (case, cookie, token, says) in &sessions {
            // Act
            let mut form: Vec<(&str, &str)> = fields.clone();
            form.extend(token.as_deref().map(|t| ("csrf", t)));
            let res = raw_client().post(app.url(path)).header("cookie", *cookie).form(&form).send().await.unwrap();

            // Assert
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "[{case}] POST {path}");
            assert!(res.text().await.unwrap().contains(says), "[{case}] POST {path} says why");
        }
    }

    // Nothing changed: the same subscription, callout and keys, no test sent, the secrets unshown.
    let (subs, _) = app.list("/webhooks").await;
    assert_eq!((subs.len(), &subs[0]["name"]), (1, &json!("Ops")));
    let (callouts, _) = app.list("/callouts").await;
    assert_eq!((callouts.len(), &callouts[0]["name"]), (1, &json!("Bookings")));
    assert_eq!(app.list("/api_keys").await.1, 1);
    assert!(receiver.received().is_empty(), "no test event was sent");
    assert_eq!(console_get(&app, &support_cookie, "/console/api-keys").await.0, StatusCode::FORBIDDEN);

    // The admin's own token goes through.
    let res = raw_client()
        .post(app.url(&format!("{wh}/test")))
        .header("cookie", &admin_cookie)
        .form(&[("csrf", admin_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(&format!("{wh}?tested=evt_")), "to the outcome: {to}");
    assert_eq!(receiver.wait_for_on("/hook", 1, 10).await.len(), 1);
    let (status, html) = console_get(&app, &admin_cookie, to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Test event sent: delivered"), "the page announces the outcome");
}
