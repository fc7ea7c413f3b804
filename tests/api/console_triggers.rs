//! The console's trigger pages, in Debian's headless Chromium against the real server (clicks and
//! typing), and their protections over HTTP.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::console_http::*;
use crate::helpers::*;

/// Clicks the element matching `css`.
async fn click(browser: &Browser, css: &str) {
    let element = browser.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("an element {css}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// An attribute of the element matching `css`.
async fn attr(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let element = browser.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("an element {css}: {e}"));
    element.attr(name).await.unwrap()
}

/// The value an input holds now.
async fn value(browser: &Browser, css: &str) -> String {
    let element = browser.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("an element {css}: {e}"));
    element.prop("value").await.unwrap().unwrap_or_default()
}

/// Waits until the page's path is exactly `path` and loaded.
async fn reach_exactly(browser: &Browser, path: &str) {
    eventually(10, &format!("the browser to reach {path}"), || async {
        let ready = browser.client.execute("return document.readyState", vec![]).await.ok();
        (browser.path().await == path && ready == Some(json!("complete"))).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_admin_creates_a_trigger_by_typing_and_sees_it_at_both_widths() {
    for width in WIDTHS {
        // Arrange
        let app = spawn_app().await;
        let browser = Browser::start(width).await;
        browser.sign_in(&app.url(""), &app.admin_key).await;
        browser.reach("/console/systems").await;

        // Act: to the triggers through the navigation, then the new trigger's form.
        browser.client.find(Locator::LinkText("Triggers")).await.unwrap().click().await.unwrap();
        browser.reach("/console/triggers").await;
        browser.client.find(Locator::LinkText("New trigger")).await.unwrap().click().await.unwrap();
        browser.reach("/console/triggers/new").await;
        browser.fill("Name", "Doorbell").await;
        browser.fill("Description", "Front door <b>bell</b>").await;
        click(&browser, "#f-supported_methods-GET").await; // POST is ticked already
        browser.fill("Debounce", "2").await;
        let unit = browser.client.find(Locator::Css("#f-debounce_unit")).await.unwrap();
        unit.select_by_value("s").await.unwrap();
        click(&browser, "#f-enable_webhook").await;
        browser.submit("Create trigger").await;

        // Assert: the trigger's page shows it, with its debounce in its unit.
        let path = browser.reach("/console/triggers/trigger-").await;
        assert_eq!(browser.text("h1").await, "Doorbell", "[{width}]");
        assert_eq!(browser.text("p.description").await, "Front door <b>bell</b>", "[{width}] text, not markup");
        assert_eq!(browser.text("#summary-debounce").await, "2 s", "[{width}]");
        assert_eq!(browser.text("#summary-methods").await, "GET, POST", "[{width}]");
        assert_eq!(browser.text("#summary-webhook").await, "enabled", "[{width}]");
        assert_eq!(value(&browser, "#f-debounce_period").await, "2", "[{width}] the form shows it again");
        assert_eq!(value(&browser, "#f-debounce_unit").await, "s", "[{width}]");
        browser.screenshot(&format!("trigger-{width}")).await;

        // And the API holds what was typed, in milliseconds.
        let trigger_id = path.rsplit('/').next().unwrap();
        let trigger = app.get_ok(&format!("/triggers/{trigger_id}")).await;
        assert_eq!(trigger["name"], "Doorbell");
        assert_eq!(trigger["debounce_period"], 2000);
        assert_eq!(trigger["supported_methods"], json!(["GET", "POST"]));
        assert_eq!(trigger["enable_webhook"], true);
        assert_eq!(trigger["any_match"], false);

        // The list shows it, with a link to its page.
        browser.client.find(Locator::LinkText("Triggers")).await.unwrap().click().await.unwrap();
        reach_exactly(&browser, "/console/triggers").await;
        assert_eq!(browser.text("ul.triggers li a").await, "Doorbell", "[{width}]");
        assert_eq!(
            attr(&browser, "ul.triggers li a", "href").await.unwrap(),
            format!("/console/triggers/{trigger_id}")
        );
        assert_eq!(browser.text("ul.triggers .debounce").await, "2 s", "[{width}]");
        assert_eq!(browser.text("ul.triggers .webhook").await, "webhook on (GET, POST)", "[{width}]");
        browser.screenshot(&format!("triggers-{width}")).await;
    }
}

#[tokio::test]
async fn an_admin_changes_a_trigger_and_the_form_keeps_what_it_does_not_show_as_inputs_of_their_own() {
    // Arrange: a trigger with everything the form offers, made through the API.
    let app = spawn_app().await;
    let body = json!({
        "name": "Everything",
        "debounce_period": 1500,
        "supported_methods": ["PUT"],
        "important": true,
        "conditions": {
            "comparisons": [{
                "left": {"mod": "Display_1", "status": "power", "keys": ["a", "b"]},
                "operator": "not_equal",
                "right": 21.5
            }],
            "time_dependents": [
                {"type": "at", "time": 1_900_000_000},
                {"type": "cron", "cron": "0 9 * * Mon-Fri", "timezone": "Australia/Sydney"}
            ]
        },
        "actions": {
            "functions": [{"mod": "Display_1", "method": "volume", "args": {"level": 10}}],
            "mailers": [{"emails": ["ops@example.com", "it@example.com"], "content": "Rang {{fire.trigger_count}}"}],
            "requests": [{
                "method": "PATCH",
                "url": "https://example.com/doors",
                "headers": {"X-Key": "k"},
                "body": {"on": true},
                "timeout_ms": 500
            }]
        },
        "webhook_filter": {"all": [{"header": "X-Event", "operator": "equal", "value": "ring"}]},
        "webhook_verification": {"scheme": "github"}
    });
    let trigger = app.create_trigger(body).await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url(&format!("/console/triggers/{}", id(&trigger)))).await;

    // Act: change the name only, and save.
    assert_eq!(browser.text("#summary-debounce").await, "1500 ms");
    browser.fill("Name", "Everything, renamed").await;
    browser.submit("Save trigger").await;

    // Assert: saved, and nothing else changed on the way through the form.
    browser.reach(&format!("/console/triggers/{}", id(&trigger))).await;
    assert_eq!(browser.text("h1").await, "Everything, renamed");
    let after = app.get_ok(&format!("/triggers/{}", id(&trigger))).await;
    assert_eq!(after["name"], "Everything, renamed");
    for field in [
        "debounce_period",
        "supported_methods",
        "important",
        "enable_webhook",
        "any_match",
        "conditions",
        "actions",
        "webhook_filter",
        "webhook_verification",
    ] {
        assert_eq!(after[field], trigger[field], "{field} survived the form");
    }
    // The cron condition's next five times, in its time zone.
    let next = browser.client.find_all(Locator::Css("#summary-next-1 + ol li")).await.unwrap();
    assert_eq!(next.len(), 5);
    assert!(next[0].text().await.unwrap().contains("09:00:00 AE"), "in Sydney's time");
}

#[tokio::test]
async fn a_refusal_is_shown_at_its_field_with_what_was_typed_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url("/console/triggers/new")).await;

    // Act: a cron expression that does not parse.
    browser.fill("Name", "Nightly").await;
    let section = "//summary[starts-with(normalize-space(), 'Time conditions')]";
    browser.client.find(Locator::XPath(section)).await.unwrap().click().await.unwrap(); // opens the section
    browser.fill("Cron expression", "every night").await;
    browser.submit("Create trigger").await;
    assert_eq!(browser.path().await, "/console/triggers", "the form again, where it was posted");

    // Assert: the engine's message at the input, which keeps what was typed.
    let error = browser.text("#f-conditions-time_dependents-0--cron-error").await;
    assert!(error.contains("not a valid cron expression"), "the server's message at the field: {error}");
    let input = "#f-conditions-time_dependents-0--cron";
    assert_eq!(attr(&browser, input, "aria-invalid").await.as_deref(), Some("true"));
    assert_eq!(value(&browser, input).await, "every night");
    assert_eq!(value(&browser, "#f-name").await, "Nightly");
    assert_eq!(app.list("/triggers").await.1, 0, "nothing was stored");
    let go = browser.client.find(Locator::LinkText("Go to the field")).await.unwrap();
    assert_eq!(go.attr("href").await.unwrap().as_deref(), Some("#f-conditions-time_dependents-0--cron"));
    go.click().await.unwrap();
    browser.screenshot("trigger-refused-390").await;

    // Act: a good expression, previewed before saving.
    browser.fill("Cron expression", "30 7 * * *").await;
    browser.fill("Time zone", "Europe/Paris").await;
    browser.submit("Preview schedules").await;

    // Assert: five times in Paris, still nothing stored, then saved.
    assert_eq!(browser.text("#preview-0").await, "Next five times:");
    let times = browser.client.find_all(Locator::Css("ol[aria-labelledby=preview-0] li")).await.unwrap();
    assert_eq!(times.len(), 5);
    let first = times[0].text().await.unwrap();
    assert!(first.contains("07:30:00 CE"), "in Paris time: {first}");
    assert_eq!(app.list("/triggers").await.1, 0, "a preview stores nothing");
    browser.submit("Create trigger").await;
    let path = browser.reach("/console/triggers/trigger-").await;
    let stored = app.get_ok(&format!("/triggers/{}", path.rsplit('/').next().unwrap())).await;
    assert_eq!(
        stored["conditions"]["time_dependents"],
        json!([{"type": "cron", "cron": "30 7 * * *", "timezone": "Europe/Paris"}])
    );
}

#[tokio::test]
async fn a_refused_comparison_operator_is_shown_at_its_drop_down() {
    // Arrange: a form sent without a browser, with an operator the drop-down does not offer.
    let app = spawn_app().await;
    let cookie = session_cookie(&app, &app.admin_key).await;
    let csrf = csrf_of(&app, &cookie, "/console/triggers/new").await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "Odd"),
        ("supported_methods", "POST"),
        ("debounce_period", "0"),
        ("debounce_unit", "ms"),
        // A blank first row is dropped: the filled one is sent (and shown again) as row 0.
        ("conditions.comparisons[0].left.mod", ""),
        ("conditions.comparisons[0].operator", "equal"),
        ("conditions.comparisons[1].left.mod", "Display_1"),
        ("conditions.comparisons[1].left.status", "power"),
        ("conditions.comparisons[1].operator", "like"),
        ("conditions.comparisons[1].right", "true"),
    ];

    // Act
    let res =
        raw_client().post(app.url("/console/triggers")).header("cookie", &cookie).form(&fields).send().await.unwrap();

    // Assert: 422, the message at the operator of row 0, the typed values kept.
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    let at = page.find("id=\"f-conditions-comparisons-0--operator-error\"").expect("the message at the operator");
    let shown: String = page[at..].chars().take(200).collect();
    let message = "conditions.comparisons[0].operator: unknown variant `like`";
    assert!(shown.contains(&format!("-error\">{message}")), "{shown}");
    assert!(page.contains("value=\"Display_1\""), "what was typed is kept");
    assert_eq!(app.list("/triggers").await.1, 0, "nothing was stored");
}

#[tokio::test]
async fn a_support_key_reads_triggers_but_is_offered_no_change_and_refused_one() {
    // Arrange
    let app = spawn_app().await;
    let trigger = app
        .create_trigger(json!({"name": "Lobby door", "enable_webhook": true, "debounce_period": 1500,
            "supported_methods": ["POST", "PUT"]}))
        .await;
    let support = app.key_with_role("support").await;
    let browser = Browser::start(1280).await;

    // Act
    browser.sign_in(&app.url(""), &support).await;
    browser.reach("/console/systems").await;
    browser.client.find(Locator::LinkText("Triggers")).await.unwrap().click().await.unwrap();
    reach_exactly(&browser, "/console/triggers").await;

    // Assert: the list, without a way to make one.
    assert_eq!(browser.text("ul.triggers li a").await, "Lobby door");
    assert!(browser.client.find_all(Locator::LinkText("New trigger")).await.unwrap().is_empty());

    // The trigger, read only.
    browser.client.find(Locator::LinkText("Lobby door")).await.unwrap().click().await.unwrap();
    browser.reach("/console/triggers/trigger-").await;
    assert_eq!(browser.text("h1").await, "Lobby door");
    assert_eq!(browser.text("#summary-debounce").await, "1500 ms");
    assert_eq!(browser.text("#summary-methods").await, "POST, PUT");
    for button in ["Save trigger", "Delete trigger", "Preview schedules"] {
        assert!(!browser.has_button(button).await, "no {button}");
    }
    assert!(browser.client.find_all(Locator::Css("form.trigger")).await.unwrap().is_empty(), "no form");

    // And changes sent anyway, with the session's own CSRF token, are refused.
    let cookie = session_cookie(&app, &support).await;
    let path = format!("/console/triggers/{}", id(&trigger));
    let csrf = csrf_of(&app, &cookie, &path).await;
    let new = raw_client().get(app.url("/console/triggers/new")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(new.status(), StatusCode::FORBIDDEN, "no form to make one");
    for (to, name) in
        [("/console/triggers".to_owned(), "Sneaky"), (path.clone(), "Renamed"), (format!("{path}/delete"), "")]
    {
        let fields = [("csrf", csrf.as_str()), ("name", name), ("supported_methods", "POST")];
        let res = raw_client().post(app.url(&to)).header("cookie", &cookie).form(&fields).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {to}");
    }
    let (triggers, total) = app.list("/triggers").await;
    assert_eq!((total, triggers[0]["name"].clone()), (1, json!("Lobby door")), "nothing changed");
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_changes_no_trigger() {
    // Arrange
    let app = spawn_app().await;
    let trigger = app.create_trigger(json!({"name": "Kept"})).await;
    let cookie = session_cookie(&app, &app.admin_key).await;
    let path = format!("/console/triggers/{}", id(&trigger));

    for to in ["/console/triggers".to_owned(), path.clone(), format!("{path}/delete")] {
        // Act
        let fields = [("csrf", "0".repeat(64)), ("name", "Forged".to_owned()), ("supported_methods", "POST".into())];
        let res = raw_client().post(app.url(&to)).header("cookie", &cookie).form(&fields).send().await.unwrap();

        // Assert
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {to}");
        assert!(res.text().await.unwrap().contains("code: csrf"), "POST {to} says why");
    }
    let (triggers, total) = app.list("/triggers").await;
    assert_eq!((total, triggers[0]["name"].clone()), (1, json!("Kept")));
}

#[tokio::test]
async fn an_admin_deletes_a_trigger_after_a_confirmation_naming_its_instances() {
    // Arrange: a trigger applied to a system.
    let app = spawn_app().await;
    let (system, trigger, _instance) = app.webhook_instance(json!({"name": "Doomed", "enable_webhook": true})).await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url(&format!("/console/triggers/{}", id(&trigger)))).await;
    let confirm = attr(&browser, "form[data-confirm]", "data-confirm").await.unwrap();
    assert!(
        confirm.contains("Doomed") && confirm.contains("every system") && confirm.contains("1 instance"),
        "{confirm}"
    );
    assert_eq!(browser.text("ul.applied li a").await, "Webhook room", "where it is applied");

    // Act
    browser.click_button("Delete trigger").await;
    eventually(10, "the confirmation", || async { browser.client.accept_alert().await.ok() }).await;

    // Assert: back at the list, and the trigger and its instance are gone.
    reach_exactly(&browser, "/console/triggers").await;
    assert_eq!(browser.text("p.empty").await, "No triggers yet.");
    assert_eq!(app.get(&format!("/triggers/{}", id(&trigger))).await.status(), 404);
    assert_eq!(app.list(&format!("/systems/{}/triggers", id(&system))).await.1, 0, "its instance went with it");
}

/// The console's triggers a page holds (`PER_PAGE` in `src/console/triggers/mod.rs`).
const TRIGGERS_PER_PAGE: usize = 50;

#[tokio::test]
async fn a_search_that_finds_more_triggers_than_a_page_holds_goes_on_to_the_next_page() {
    // Arrange: one more lamp than a page holds, and a trigger the search does not find.
    let app = spawn_app().await;
    for i in 1..=TRIGGERS_PER_PAGE + 1 {
        app.create_trigger(json!({"name": format!("Lamp {i:02}")})).await;
    }
    app.create_trigger(json!({"name": "Door"})).await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url("/console/triggers?q=lamp")).await;

    // Assert: a full first page, without the last lamp.
    let total = TRIGGERS_PER_PAGE + 1;
    assert_eq!(browser.text("p.count").await, format!("{total} triggers: 1–{TRIGGERS_PER_PAGE} shown"));
    let names = browser.client.find_all(Locator::Css("ul.triggers li > a")).await.unwrap();
    assert_eq!(names.len(), TRIGGERS_PER_PAGE);
    assert_eq!(names[0].text().await.unwrap(), "Lamp 01", "oldest first");
    assert!(browser.client.find_all(Locator::Css("a[rel=prev]")).await.unwrap().is_empty(), "no page before");

    // Act: on to the next page.
    click(&browser, "a[rel=next]").await;
    let next = format!("q=lamp&offset={TRIGGERS_PER_PAGE}");
    eventually(10, "the next page", || async {
        let url = browser.client.current_url().await.ok()?;
        let ready = browser.client.execute("return document.readyState", vec![]).await.ok();
        (url.path() == "/console/triggers" && url.query() == Some(next.as_str()) && ready == Some(json!("complete")))
            .then_some(())
    })
    .await;

    // Assert: the last lamp, the search kept, and a way back but none further.
    assert_eq!(browser.text("p.count").await, format!("{total} triggers: {total}–{total} shown"));
    let names = browser.client.find_all(Locator::Css("ul.triggers li > a")).await.unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].text().await.unwrap(), format!("Lamp {total:02}"));
    assert_eq!(attr(&browser, "a[rel=prev]", "href").await.as_deref(), Some("/console/triggers?q=lamp"));
    assert!(browser.client.find_all(Locator::Css("a[rel=next]")).await.unwrap().is_empty(), "no page after");
}
