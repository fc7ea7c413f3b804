//! PlaceOS's how-to, end to end in the console: a system, a Display module, a trigger applied with
//! exec enabled, its webhook URL copied from the page and called, the count rising on the page without
//! a reload, and an exec URL built on the page changing the module's status live.

use serde_json::json;

use crate::browser::Browser;

/// WebDriver's key codes.
const TAB: char = '\u{E004}';
const ENTER: char = '\u{E007}';
use crate::helpers::*;

#[tokio::test]
async fn the_placeos_how_to_end_to_end_through_the_console() {
    // Arrange
    let app = spawn_app().await;
    let trigger = json!({
        "name": "Doorbell", "enable_webhook": true, "supported_methods": ["POST", "GET"], "debounce_period": 1000,
    });
    app.create_trigger(trigger).await;
    let browser = Browser::start(1280).await;
    let http = reqwest::Client::new();

    // A system, by typing.
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.fill("Name", "Lobby").await;
    browser.submit("Create system").await;
    let system_page = browser.reach("/console/systems/sys-").await;

    // A Display module, picked from the drivers.
    browser.choose("Driver", "Display").await;
    browser.submit("Show its settings").await;
    browser.submit("Add Display module").await;
    assert_eq!(browser.text("ol.modules li strong").await, "Display_1");

    // The trigger, applied with exec enabled.
    browser.choose("Trigger", "Doorbell").await;
    browser.tick("Exec enabled (webhook calls may call modules)").await;
    browser.submit("Apply trigger").await;
    browser.reach(&format!("{system_page}/triggers/trig-")).await;
    assert_eq!(browser.text("[data-live=trigger_count]").await, "0");
    browser.screenshot("instance-1280").await;
    browser.goto(&app.url(&system_page)).await;
    browser.screenshot("system-full-1280").await;
    browser.client.back().await.unwrap();
    browser.reach(&format!("{system_page}/triggers/trig-")).await;

    // Act: call the URL the page shows, as an outside service would.
    let url = browser.text("#webhook-url").await;
    let res = http.post(&url).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(res.status(), 202, "{url}");

    // Assert: the count rises on the page, without a reload.
    eventually(10, "the page to show the fire", || async {
        (browser.text("[data-live=trigger_count]").await == "1").then_some(())
    })
    .await;

    // Act: build the exec URL for Display_1.request on the page.
    browser.choose("Module", "Display").await;
    browser.choose("Webhook method", "request").await;
    browser.submit("Build exec URLs").await;
    let exec_url = browser.text("#exec-query-url").await;
    assert!(exec_url.contains("exec=true&mod=Display&index=1&method=request"), "{exec_url}");
    let path_form = browser.text("#exec-path-url").await;
    assert!(path_form.ends_with("/Display/1/request"), "{path_form}");

    // Watch the module's page while the exec arrives.
    browser.goto(&app.url(&format!("{system_page}/Display_1"))).await;
    browser.reach(&format!("{system_page}/Display_1")).await;
    let res = http.post(&exec_url).header("content-type", "application/json").body(r#"{"power": true}"#).send();
    assert_eq!(res.await.unwrap().status(), 200);

    // Assert: the module's status changes on the page, without a reload.
    eventually(10, "the page to show the module powered on", || async {
        (browser.text("[data-status=power]").await == "true").then_some(())
    })
    .await;
    browser.screenshot("module-1280").await;
}

#[tokio::test]
async fn a_call_is_opened_in_the_inspector_and_replayed_from_the_console() {
    // Arrange: an instance that received one call.
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let res = app.call_hook(&hook.url(&app), &[("x-delivery-note", "first".into())], r#"{"door": 7}"#).await;
    assert_eq!(res.status(), 202);
    app.receipts_eventually(&hook, 1).await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;

    // Act: open the instance, then the call.
    browser.goto(&app.url(&format!("/console/systems/{}/triggers/{}", hook.system, hook.id()))).await;
    browser.reach("/console/systems/").await;
    browser.screenshot("instance-390").await;
    let opened = browser.client.find(fantoccini::Locator::Css("table[aria-labelledby=calls] a")).await.unwrap();
    opened.click().await.unwrap();
    browser.reach(&format!("/console/systems/{}/triggers/{}/receipts/rcpt-", hook.system, hook.id())).await;

    // Assert: what arrived, headers and body, with the secret redacted.
    assert_eq!(browser.text("pre").await, r#"{"door": 7}"#);
    let page = browser.client.source().await.unwrap();
    assert!(page.contains("x-delivery-note") && page.contains("first"), "the headers are listed");
    assert!(!page.contains(hook.secret()), "the URL secret is never shown");
    browser.screenshot("receipt-390").await;

    // Act: replay it.
    browser.click_button("Replay this call").await;
    browser.client.accept_alert().await.unwrap();

    // Assert: answered like the first, and the trigger fired again; the new call names the one it replays.
    assert!(browser.text("[role=status]").await.contains("answered 202"));
    assert_eq!(app.trigger_count(&hook).await, 2);
    let calls = app.receipts_eventually(&hook, 2).await;
    assert!(calls.iter().any(|r| r["replay_of"].is_string()), "the replay has its own receipt: {calls:?}");
}

#[tokio::test]
async fn the_main_pages_have_no_serious_accessibility_violations_and_sign_in_works_by_keyboard() {
    // Arrange: a system with a module and an instance that has received a call.
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    app.create_module("Display", Some(&hook.system)).await;
    app.call_hook(&hook.url(&app), &[], "{}").await;
    app.receipts_eventually(&hook, 1).await;
    let browser = Browser::start(1280).await;

    // Act: sign in with the keyboard alone: Tab past the header's link to the key, type it, Enter.
    browser.goto(&app.url("/console/sign-in")).await;
    browser.press(TAB, 2).await;
    assert_eq!(browser.focused_id().await.as_deref(), Some("f-key"), "Tab reaches the key");
    for c in app.admin_key.chars() {
        browser.press(c, 1).await;
    }
    browser.press(ENTER, 1).await;
    browser.reach("/console/systems").await;

    // Assert: axe-core finds nothing serious on the main pages.
    let instance = format!("/console/systems/{}/triggers/{}", hook.system, hook.id());
    for path in [
        "/console/systems".to_owned(),
        format!("/console/systems/{}", hook.system),
        instance,
        format!("/console/systems/{}/Display_1", hook.system),
        "/console/events".to_owned(),
    ] {
        browser.goto(&app.url(&path)).await;
        let violations = crate::axe::serious_violations(&browser).await;
        assert!(violations.is_empty(), "{path}: {:#}", serde_json::Value::Array(violations));
    }
}

#[tokio::test]
async fn modules_are_reordered_called_and_a_system_deleted_after_its_confirmation() {
    // Arrange: a system with two Displays.
    let app = spawn_app().await;
    let system = id(&app.create_system("Boardroom").await).to_owned();
    let first = id(&app.create_module("Display", Some(&system)).await).to_owned();
    let second = id(&app.create_module("Display", Some(&system)).await).to_owned();
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    let page = format!("/console/systems/{system}");
    browser.goto(&app.url(&page)).await;

    // Act: move the second Display up.
    let up = browser.client.find(fantoccini::Locator::Css("button[aria-label='Move Display_2 up']")).await.unwrap();
    let before = browser.client.find(fantoccini::Locator::Css("html")).await.unwrap();
    up.click().await.unwrap();
    eventually(10, "the page after the move", || async { before.prop("tagName").await.is_err().then_some(()) }).await;

    // Assert: the system's order changed, and so did the references.
    let stored = app.get_ok(&format!("/systems/{system}")).await;
    assert_eq!(stored["modules"], json!([second, first]));

    // Act: call power on what is now Display_1, from its form.
    browser.goto(&app.url(&format!("{page}/Display_1"))).await;
    browser.fill("state (true or false)", "true").await;
    browser.submit("Call power").await;

    // Assert: the answer is shown, and the module it reached is the one moved up.
    assert!(browser.text("[role=status]").await.contains("power answered"));
    assert_eq!(app.get_ok(&format!("/systems/{system}/Display_1")).await["power"], true);
    let modules = app.get_ok(&format!("/systems/{system}/modules")).await;
    assert_eq!((&modules[0]["id"], &modules[0]["reference"]), (&json!(second), &json!("Display_1")));

    // Act: delete the system, accepting the confirmation that names what goes with it.
    browser.goto(&app.url(&page)).await;
    browser.click_button("Delete system").await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("trigger instances") && question.contains("callouts"), "{question}");
    browser.client.accept_alert().await.unwrap();
    browser.reach_exactly("/console/systems").await;

    // Assert
    assert_eq!(app.list("/systems").await.1, 0);
}
