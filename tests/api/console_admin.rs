//! The console's remaining admin flows, in Chromium: a module's settings edited, moved and deleted;
//! an instance marked important and removed; a failed run retried; lists paged; refused forms that
//! keep what was typed.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::console_http::{csrf_of, raw_client, session_cookie};
use crate::helpers::*;

const SECRET_URL: &str = "https://relay.example/in?token=s3cret-token";

/// A system with a Forward module whose `url` setting is sensitive; returns (system, module).
async fn forward_module(app: &TestApp, system_name: &str) -> (String, String) {
    let system = id(&app.create_system(system_name).await).to_owned();
    let body = json!({ "driver": "HTTP Forward", "control_system_id": system, "settings": { "url": SECRET_URL } });
    let module = id(&app.create("/modules", body).await).to_owned();
    (system, module)
}

#[tokio::test]
async fn a_modules_settings_are_edited_moved_to_another_system_and_it_is_deleted_from_its_page() {
    // Arrange
    let app = spawn_app().await;
    let (lobby, module) = forward_module(&app, "Lobby").await;
    let boardroom = id(&app.create_system("Boardroom").await).to_owned();
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;

    // Act: find it in the module list, filtered by driver, and open it.
    browser.goto(&app.url("/console/modules")).await;
    browser.choose("Driver", "HTTP Forward").await;
    browser.submit("Search").await;
    browser.client.find(Locator::LinkText("Forward")).await.expect("the module in the list").click().await.unwrap();
    browser.reach_exactly(&format!("/console/modules/{module}")).await;

    // Assert: the sensitive setting is not in the page, even for an admin.
    let html = browser.client.source().await.unwrap();
    assert!(!html.contains("s3cret-token"), "the sensitive url is never put in the page");
    assert!(browser.text("dl[aria-labelledby=settings]").await.contains("hidden"));

    // Act: a name that cannot be a module's.
    browser.fill("Name (blank: Forward)", "Relay 2").await;
    browser.submit("Save module").await;

    // Assert: refused at its field, with what was typed; nothing changed.
    let message = browser.text("#f-custom_name-error").await;
    assert!(message.contains("custom_name"), "{message}");
    assert_eq!(app.get_ok(&format!("/modules/{module}")).await["custom_name"], json!(null));

    // Act: rename it, move it to the boardroom, set a timeout, leave the url blank.
    browser.fill("Name (blank: Forward)", "Relay").await;
    browser.choose("System", "Boardroom").await;
    browser.fill("timeout_ms (optional)", "2500").await;
    browser.submit("Save module").await;

    // Assert: saved, the url kept, and the module is the boardroom's now.
    let stored = app.get_ok(&format!("/modules/{module}")).await;
    assert_eq!(stored["custom_name"], "Relay");
    assert_eq!(stored["control_system_id"], boardroom.as_str());
    assert_eq!(stored["settings"], json!({ "url": SECRET_URL, "timeout_ms": 2500 }));
    assert_eq!(app.get_ok(&format!("/systems/{lobby}")).await["modules"], json!([]));
    assert_eq!(app.get_ok(&format!("/systems/{boardroom}")).await["modules"], json!([module]));
    assert!(browser.text("main").await.contains("Relay_1"), "the page names it by its new reference");
    browser.screenshot("module-settings-1280").await;

    // Act: delete it, accepting the confirmation.
    browser.click_button("Delete module").await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("Relay_1"), "{question}");
    browser.client.accept_alert().await.unwrap();
    browser.reach_exactly(&format!("/console/systems/{boardroom}")).await;

    // Assert
    assert_eq!(app.get(&format!("/modules/{module}")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_support_key_sees_a_modules_settings_without_its_secret_and_no_form() {
    // Arrange
    let app = spawn_app().await;
    let (_, module) = forward_module(&app, "Lobby").await;
    let support = app.key_with_role("support").await;
    let cookie = session_cookie(&app, &support).await;

    // Act
    let res = raw_client().get(app.url(&format!("/console/modules/{module}"))).header("cookie", &cookie).send().await;
    let html = res.unwrap().text().await.unwrap();

    // Assert
    assert!(html.contains("hidden") && !html.contains("s3cret-token"), "{html}");
    assert!(!html.contains("Save module") && !html.contains("Delete module"), "no control it may not use");

    // And the change sent anyway, with the session's own token, is refused.
    let csrf = csrf_of(&app, &cookie, "/console/modules").await;
    let form = [("csrf", csrf.as_str()), ("custom_name", "Sneaky"), ("control_system_id", "")];
    let res = raw_client()
        .post(app.url(&format!("/console/modules/{module}")))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_ok(&format!("/modules/{module}")).await["custom_name"], json!(null));
}

#[tokio::test]
async fn the_add_module_form_shows_a_refusal_with_what_was_typed_but_never_a_secret() {
    // Arrange
    let app = spawn_app().await;
    let system = id(&app.create_system("Lobby").await).to_owned();
    let cookie = session_cookie(&app, &app.admin_key).await;
    let page = format!("/console/systems/{system}");
    let csrf = csrf_of(&app, &cookie, &page).await;

    // Act
    let form = [
        ("csrf", csrf.as_str()),
        ("driver", "HTTP Forward"),
        ("custom_name", "Relay"),
        ("settings.url", SECRET_URL),
        ("settings.timeout_ms", "soon"),
    ];
    let res = raw_client()
        .post(app.url(&format!("{page}/modules")))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="f-settings-timeout_ms-error""#), "the refusal at its field: {html}");
    assert!(html.contains(r#"value="soon""#) && html.contains(r#"value="Relay""#), "what was typed is kept");
    assert!(!html.contains("s3cret-token"), "the sensitive url is not sent back");
    assert_eq!(app.list("/modules").await.1, 0);
}

#[tokio::test]
async fn an_instance_is_marked_important_and_removed_from_its_system_after_a_confirmation() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    let page = format!("/console/systems/{}/triggers/{}", hook.system, hook.id());
    browser.goto(&app.url(&page)).await;

    // Act
    browser.submit("Mark important").await;

    // Assert
    let path = format!("/systems/{}/triggers/{}", hook.system, hook.id());
    assert_eq!(app.get_ok(&path).await["important"], true);
    assert!(browser.text("p.id").await.contains("important"));
    assert!(browser.has_button("Mark not important").await);

    // Act: remove it, accepting the confirmation.
    browser.click_button("Remove from system").await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("webhook URL stops working"), "{question}");
    browser.client.accept_alert().await.unwrap();
    browser.reach_exactly(&format!("/console/systems/{}", hook.system)).await;

    // Assert: gone, and its URL no longer fires.
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.call_hook(&hook.url(&app), &[], "{}").await.status(), StatusCode::NOT_FOUND);
    assert!(browser.text("main").await.contains("No trigger is applied"));
}

#[tokio::test]
async fn a_failed_run_is_counted_live_and_retried_from_its_page() {
    // Arrange: a request action whose receiver fails until it is fixed.
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let app = spawn_app_with(|c| c.outbound.allow_private_networks = true).await;
    let request = json!({ "method": "POST", "url": receiver.url("/hook") });
    let hook = app.hook(json!({ "actions": { "requests": [request] } })).await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    let instance = format!("/console/systems/{}/triggers/{}", hook.system, hook.id());
    browser.goto(&app.url(&instance)).await;

    // Act: a call fires the run, which fails on every attempt.
    app.call_hook(&hook.url(&app), &[], "{}").await;
    let runs = format!("{}/runs", hook.path());
    let run = eventually(10, "the run to fail", || async {
        let (items, _) = app.list(&runs).await;
        items.into_iter().find(|r| r["status"] == "failed")
    })
    .await;

    // Assert: the page counts the action error without a reload.
    eventually(10, "action errors 1 on the page", || async {
        (browser.text("[data-live=action_errors]").await == "1").then_some(())
    })
    .await;
    browser.client.refresh().await.unwrap();
    browser.client.find(Locator::Css("a[href*='/runs/']")).await.expect("the run in the list").click().await.unwrap();
    browser.reach(&format!("{instance}/runs/")).await;
    assert!(browser.text("main").await.contains("given up"));

    // Act: the far end is fixed; retry from the page.
    receiver.respond_with(200);
    browser.submit("Retry the failed actions").await;

    // Assert: the run succeeds, and the page says so once reloaded.
    let run_path = format!("{runs}/{}", id(&run));
    eventually(10, "the retried run to succeed", || async {
        (app.get_ok(&run_path).await["status"] == "succeeded").then_some(())
    })
    .await;
    browser.client.refresh().await.unwrap();
    assert!(browser.text("dl").await.contains("succeeded"));
    assert!(!browser.has_button("Retry the failed actions").await, "nothing left to retry");
}

#[tokio::test]
async fn the_systems_list_pages_through_more_systems_than_one_page_holds() {
    // Arrange: one more system than a page shows.
    let app = spawn_app().await;
    for n in 0..101 {
        app.create_system(&format!("Room {n:03}")).await;
    }
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.goto(&app.url("/console/systems")).await;
    assert!(browser.text("p.count").await.contains("101 systems: 1–100 shown"));
    let first_page = browser.client.find_all(Locator::Css("tbody tr")).await.unwrap().len();

    // Act
    browser.client.find(Locator::Css("a[rel=next]")).await.expect("a link to the next page").click().await.unwrap();
    browser.reach_exactly("/console/systems").await;

    // Assert: the one left, and a way back.
    eventually(10, "the second page", || async {
        browser.client.current_url().await.ok()?.query()?.contains("offset=100").then_some(())
    })
    .await;
    assert!(browser.text("p.count").await.contains("101–101 shown"));
    let rows = browser.client.find_all(Locator::Css("tbody tr")).await.unwrap().len();
    assert_eq!((first_page, rows), (100, 1));
    assert!(browser.client.find(Locator::Css("a[rel=prev]")).await.is_ok());
}

#[tokio::test]
async fn a_signing_secret_is_typed_in_or_generated_and_shown_once_then_calls_must_be_signed_with_it() {
    // Arrange: a trigger that verifies GitHub's signature, applied without a secret yet.
    let app = spawn_app().await;
    let hook = app.hook(json!({ "webhook_verification": { "scheme": "github" } })).await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    let page = format!("/console/systems/{}/triggers/{}", hook.system, hook.id());
    browser.goto(&app.url(&page)).await;
    assert!(browser.text("section[aria-labelledby=signing]").await.contains("No signing secret is set"));

    // Act: type the sender's secret.
    browser.fill("Signing secret from the sender (blank: Switchboard generates one)", "typed-by-the-sender").await;
    browser.click_button("Set signing secret").await;
    browser.client.accept_alert().await.unwrap();
    browser.reach_exactly(&page).await;

    // Assert: calls signed with it fire, others are refused; the page never shows it.
    let body = br#"{"zen":"typed"}"#;
    let signed = sign::github("typed-by-the-sender", body);
    assert_eq!(app.call_hook(&hook.url(&app), &signed, body.to_vec()).await.status(), StatusCode::ACCEPTED);
    let forged = sign::github("guessed", body);
    assert_eq!(app.call_hook(&hook.url(&app), &forged, body.to_vec()).await.status(), StatusCode::UNAUTHORIZED);
    assert!(browser.text("section[aria-labelledby=signing]").await.contains("A signing secret is set"));
    assert!(!browser.client.source().await.unwrap().contains("typed-by-the-sender"));

    // Act: leave it blank, so that Switchboard generates one.
    browser.click_button("Set signing secret").await;
    browser.client.accept_alert().await.unwrap();

    // Assert: shown once with a copy button, and calls signed with it fire.
    let generated = browser.text("#secret").await;
    assert!(browser.text("section.secret").await.contains("will not be shown again"));
    let signed = sign::github(&generated, body);
    assert_eq!(app.call_hook(&hook.url(&app), &signed, body.to_vec()).await.status(), StatusCode::ACCEPTED);
    browser.screenshot("signing-secret-once-1280").await;
    browser.goto(&app.url(&page)).await;
    assert!(!browser.client.source().await.unwrap().contains(&generated), "a reload does not show it again");
}

#[tokio::test]
async fn an_instances_calls_are_paged_and_the_filter_is_kept_from_page_to_page() {
    // Arrange: one call more than a page shows.
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    for _ in 0..26 {
        app.call_hook(&hook.url(&app), &[], "{}").await;
    }
    app.receipts_eventually(&hook, 26).await;
    let cookie = session_cookie(&app, &app.admin_key).await;
    let page = format!("/console/systems/{}/triggers/{}", hook.system, hook.id());
    let get = |path: String| {
        let cookie = cookie.clone();
        let url = app.url(&path);
        async move { raw_client().get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
    };

    // Act
    let first = get(format!("{page}?status=202")).await;

    // Assert: the first 25, and a link on that keeps the filter.
    assert!(first.contains("26 matching calls: 1–25 shown"), "{first}");
    let next = format!(r#"href="{page}?status=202&amp;runs_from=0&amp;calls_from=25""#);
    assert!(first.contains(&next), "{first}");

    // Act
    let second = get(format!("{page}?status=202&runs_from=0&calls_from=25")).await;

    // Assert
    assert!(second.contains("26 matching calls: 26–26 shown"), "{second}");
    assert_eq!(second.matches("/receipts/rcpt-").count(), 1, "one call on the last page");
}
