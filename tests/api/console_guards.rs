//! The console's guards, across every form at once: a forged or cross-site POST changes nothing, a
//! support key sees no secret and no control on the instance and module pages (and is refused a change
//! sent anyway), and a refused edit is shown at its field.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::console_http::*;
use crate::helpers::*;

/// Names and values: a form's fields, or a request's headers.
type Pairs = &'static [(&'static str, &'static str)];

/// Every state-changing console form: `(case, path, fields a real form would send)`. The braces are
/// filled from the objects [`arrange_one_of_each`] makes: `{sys}` the system, `{mod}` its first
/// module's id, `{inst}` the trigger instance on it, `{rcpt}` a receipt of that instance, `{trigger}`
/// the instance's trigger, `{spare}` a trigger applied nowhere, `{sub}` a subscription, `{callout}` a
/// callout, `{key}` an extra API key and `{receiver}` a URL of a receiver that records what reaches it.
/// Sign-out stays last: were it let through, the rows after it would be refused for the wrong reason.
const FORMS: &[(&str, &str, Pairs)] = &[
    ("systems: create", "/console/systems", &[("name", "Forged"), ("description", "forged")]),
    ("systems: edit", "/console/systems/{sys}/edit", &[("name", "Forged"), ("description", "forged")]),
    ("systems: delete", "/console/systems/{sys}/delete", &[]),
    ("modules: add", "/console/systems/{sys}/modules", &[("driver", "Display"), ("custom_name", "Forged")]),
    ("modules: move", "/console/systems/{sys}/modules/{mod}/move?to=down", &[]),
    ("modules: call", "/console/systems/{sys}/Display_1/power", &[("args.state", "true")]),
    ("modules: save", "/console/modules/{mod}", &[("custom_name", "Forged"), ("control_system_id", "")]),
    ("modules: delete", "/console/modules/{mod}/delete", &[]),
    ("instances: apply", "/console/systems/{sys}/triggers", &[("trigger_id", "{spare}"), ("enabled", "on")]),
    ("instances: switch", "/console/systems/{sys}/triggers/{inst}/switch?enabled=false", &[]),
    ("instances: rotate", "/console/systems/{sys}/triggers/{inst}/rotate", &[]),
    ("instances: signing secret", "/console/systems/{sys}/triggers/{inst}/signing-secret", &[("secret", "forged")]),
    ("instances: delete", "/console/systems/{sys}/triggers/{inst}/delete", &[]),
    // No run exists: the guard answers before the run is looked up.
    ("runs: retry", "/console/systems/{sys}/triggers/{inst}/runs/run-0123456789abcdef0123456789abcdef/retry", &[]),
    ("receipts: replay", "/console/systems/{sys}/triggers/{inst}/receipts/{rcpt}/replay", &[]),
    ("triggers: create", "/console/triggers", &[("name", "Forged"), ("supported_methods", "POST")]),
    ("triggers: save", "/console/triggers/{trigger}", &[("name", "Forged"), ("supported_methods", "POST")]),
    ("triggers: delete", "/console/triggers/{trigger}/delete", &[]),
    ("webhooks: create", "/console/webhooks", &[("name", "Forged"), ("url", "{receiver}"), ("events", "test")]),
    ("webhooks: update", "/console/webhooks/{sub}", &[("name", "Forged"), ("url", "{receiver}"), ("events", "*")]),
    ("webhooks: enable", "/console/webhooks/{sub}/enable", &[]),
    ("webhooks: test", "/console/webhooks/{sub}/test", &[]),
    ("webhooks: rotate secret", "/console/webhooks/{sub}/rotate-secret", &[]),
    ("webhooks: delete", "/console/webhooks/{sub}/delete", &[]),
    ("callouts: create", "/console/callouts", &[("name", "Forged"), ("url", "{receiver}"), ("on", "exec")]),
    ("callouts: update", "/console/callouts/{callout}", &[("name", "Forged"), ("url", "{receiver}"), ("on", "exec")]),
    ("callouts: rotate secret", "/console/callouts/{callout}/rotate-secret", &[]),
    ("callouts: delete", "/console/callouts/{callout}/delete", &[]),
    ("api keys: create", "/console/api-keys", &[("name", "Forged"), ("role", "admin")]),
    ("api keys: delete", "/console/api-keys/{key}/delete", &[]),
    ("sign out", "/console/sign-out", &[]),
];

/// How a forged POST tries to get through: the CSRF field it sends (`None`: none, `Some("")`: the
/// session's real token), and the headers a browser would add to a request from another site.
const FORGERIES: &[(&str, Option<&str>, Pairs)] = &[
    ("no csrf field", None, &[]),
    ("a wrong token", Some("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), &[]),
    ("the right token from another Origin", Some(""), &[("origin", "http://evil.example")]),
    ("the right token, Sec-Fetch-Site cross-site", Some(""), &[("sec-fetch-site", "cross-site")]),
];

/// One of each object a console form changes, made through the admin API.
struct Arranged {
    hook: Hook,
    receiver: TestReceiver,
    /// `{name}` → value, for the braces of [`FORMS`].
    slots: Vec<(&'static str, String)>,
}

impl Arranged {
    fn fill(&self, template: &str) -> String {
        let filled = self.slots.iter().fold(template.to_owned(), |s, (name, value)| s.replace(name, value));
        assert!(!filled.contains('{'), "every brace of {template} names an arranged object: {filled}");
        filled
    }
}

/// A system with two Display modules and a webhook trigger applied to it that has received one call,
/// a trigger applied nowhere, a paused subscription and a callout that would reach a receiver, and an
/// extra support key.
async fn arrange_one_of_each(app: &TestApp) -> Arranged {
    let receiver = TestReceiver::start().await;
    let system = app.create_system("Boardroom").await;
    let sys = id(&system).to_owned();
    let first = app.create_module("Display", Some(&sys)).await;
    app.create_module("Display", Some(&sys)).await;
    let hook = app.hook_in(&sys, json!({})).await;
    let res = app.call_hook(&hook.url(app), &[], "{}").await;
    assert!(res.status().is_success(), "the webhook call is taken: {}", res.status());
    let receipt = app.receipts_eventually(&hook, 1).await.remove(0);
    eventually(10, "the call's fire to be counted", || async { (app.trigger_count(&hook).await == 1).then_some(()) })
        .await;
    let spare = app.create_trigger(json!({ "name": "Spare" })).await;
    let body = json!({ "name": "Ops", "url": receiver.url("/hook"), "events": ["test"], "enabled": false });
    let sub = app.create("/webhooks", body).await;
    let body = json!({ "name": "Bookings", "url": receiver.url("/callout"), "on": ["exec"] });
    let callout = app.create("/callouts", body).await;
    let key = app.create("/api_keys", json!({ "name": "Desk", "role": "support" })).await;
    let slots = vec![
        ("{sys}", sys),
        ("{mod}", id(&first).to_owned()),
        ("{inst}", hook.id().to_owned()),
        ("{rcpt}", id(&receipt).to_owned()),
        ("{trigger}", hook.trigger.clone()),
        ("{spare}", id(&spare).to_owned()),
        ("{sub}", id(&sub).to_owned()),
        ("{callout}", id(&callout).to_owned()),
        ("{key}", id(&key).to_owned()),
        ("{receiver}", receiver.url("/forged")),
    ];
    Arranged { hook, receiver, slots }
}

/// What the console's forms could change, read through the admin API, section by section: every
/// listing whole (names, switches, secrets an admin may read, the system's module order), the receipts
/// and the first display's status.
async fn world(app: &TestApp, hook: &Hook) -> Vec<(&'static str, Value)> {
    let listings = [
        ("systems", "/systems".to_owned()),
        ("modules", "/modules".to_owned()),
        ("triggers", "/triggers".to_owned()),
        ("instances", format!("/systems/{}/triggers", hook.system)),
        ("receipts", hook.receipts_path()),
        ("subscriptions", "/webhooks".to_owned()),
        ("callouts", "/callouts".to_owned()),
        ("api keys", "/api_keys".to_owned()),
    ];
    let mut sections = Vec::new();
    for (section, path) in listings {
        let (items, total) = app.list(&path).await;
        sections.push((section, json!({ "total": total, "items": items })));
    }
    sections.push(("instance", app.hook_state(hook).await));
    sections.push(("Display_1 status", app.get_ok(&format!("/systems/{}/Display_1", hook.system)).await));
    sections
}

/// The section's listing total.
fn total(world: &[(&str, Value)], section: &str) -> u64 {
    let (_, value) = world.iter().find(|(s, _)| *s == section).unwrap_or_else(|| panic!("a section {section}"));
    value["total"].as_u64().unwrap_or_else(|| panic!("{section} has a total: {value}"))
}

/// POSTs a form with a session cookie and extra headers; the answer's status and body.
async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, String)],
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = raw_client().post(app.url(path)).header("cookie", cookie).form(fields);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (res.status(), res.text().await.unwrap())
}

/// GETs a console page with a session cookie: its status and body.
async fn get_page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = raw_client().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn every_console_form_refuses_a_forged_post_and_changes_nothing() {
    // Arrange: one of each object, an admin session and its real CSRF token, and the world as it is.
    let app = spawn_app_with(|c| c.outbound.allow_private_networks = true).await;
    let arranged = arrange_one_of_each(&app).await;
    let cookie = session_cookie(&app, &app.admin_key).await;
    let csrf = csrf_of(&app, &cookie, "/console/systems").await;
    let before = world(&app, &arranged.hook).await;
    let secret = arranged.hook.secret().to_owned();
    let order = app.get_ok(&format!("/systems/{}", arranged.hook.system)).await["modules"].clone();

    for (case, template, fields) in FORMS {
        let path = arranged.fill(template);
        for (forgery, token, headers) in FORGERIES {
            // Act
            let mut form: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, arranged.fill(v))).collect();
            if let Some(token) = token {
                form.push(("csrf", if token.is_empty() { csrf.clone() } else { (*token).to_owned() }));
            }
            let (status, page) = post_form(&app, &cookie, &path, &form, headers).await;

            // Assert
            assert_eq!(status, StatusCode::FORBIDDEN, "[{case}: {forgery}] POST {path} is refused: {page}");
            assert!(page.contains("code: csrf"), "[{case}: {forgery}] POST {path} says it is the CSRF guard: {page}");
        }
    }

    // Assert: nothing changed, section by section.
    let after = world(&app, &arranged.hook).await;
    for ((section, was), (_, now)) in before.iter().zip(&after) {
        assert_eq!(now, was, "[{section}] a refused form changed it");
    }
    let counts = [
        ("systems", 1),
        ("modules", 2),
        ("triggers", 2),
        ("instances", 1),
        ("receipts", 1),
        ("subscriptions", 1),
        ("callouts", 1),
        ("api keys", 1),
    ];
    for (section, count) in counts {
        assert_eq!(total(&after, section), count, "[{section}] as many as arranged");
    }
    let instance = app.hook_state(&arranged.hook).await;
    assert_eq!(instance["webhook_secret"], json!(secret), "the instance's secret was not rotated");
    assert_eq!(instance["enabled"], json!(true), "the instance was not switched off");
    let system = app.get_ok(&format!("/systems/{}", arranged.hook.system)).await;
    assert_eq!(system["modules"], order, "the module order is as it was");
    assert_eq!(system["name"], json!("Boardroom"), "the system was not renamed");
    assert!(arranged.receiver.received().is_empty(), "no test event and no question reached the receiver");
    let (status, _) = get_page(&app, &cookie, "/console/systems").await;
    assert_eq!(status, StatusCode::OK, "the session lives on: the forged sign-outs were refused");

    // And the same token from this console's own page goes through, so the refusals above were the
    // guard's and not a token the test got wrong.
    let path = arranged.fill("/console/systems/{sys}/triggers/{inst}/switch?enabled=false");
    let form = [("csrf", csrf.clone())];
    let (status, page) = post_form(&app, &cookie, &path, &form, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a same-origin switch with the token goes through: {page}");
    assert_eq!(app.hook_state(&arranged.hook).await["enabled"], json!(false), "and switches the instance off");
}

/// The `href`, `src`, `action` and `formaction` of every element of the browser's page.
async fn urls_on_page(browser: &Browser) -> Vec<String> {
    let script = "return Array.from(document.querySelectorAll('[href],[src],[action],[formaction]'))\
                  .flatMap(e => ['href', 'src', 'action', 'formaction'].map(a => e.getAttribute(a)))\
                  .filter(v => v !== null)";
    let urls = browser.client.execute(script, vec![]).await.expect("the page's URLs");
    serde_json::from_value(urls).expect("a list of strings")
}

/// The texts of every button on the browser's page.
async fn button_texts(browser: &Browser) -> Vec<String> {
    let mut texts = Vec::new();
    for button in browser.client.find_all(Locator::Css("button")).await.unwrap() {
        texts.push(button.text().await.unwrap());
    }
    texts
}

#[tokio::test]
async fn a_support_key_reads_instance_and_module_pages_without_secrets_or_controls() {
    // Arrange: a system with a Display module and a webhook trigger that has received a call; the
    // instance's secret as an admin reads it; a support key signed in, in Chromium and over HTTP.
    let app = spawn_app().await;
    let system = app.create_system("Lobby").await;
    let sys = id(&system).to_owned();
    app.create_module("Display", Some(&sys)).await;
    let hook = app.hook_in(&sys, json!({})).await;
    let res = app.call_hook(&hook.url(&app), &[], "{}").await;
    assert!(res.status().is_success(), "the webhook call is taken: {}", res.status());
    let receipt = app.receipts_eventually(&hook, 1).await.remove(0);
    let secret = app.hook_state(&hook).await["webhook_secret"].as_str().expect("admins read the secret").to_owned();
    let support = app.key_with_role("support").await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), &support).await;
    browser.reach("/console/systems").await;
    let instance_page = format!("/console/systems/{sys}/triggers/{}", hook.id());
    let module_page = format!("/console/systems/{sys}/Display_1");
    let pages = [("instance", &instance_page, "Hook"), ("module", &module_page, "Display_1")];

    for (case, path, heading) in pages {
        // Act
        browser.goto(&app.url(path)).await;
        browser.reach_exactly(path).await;
        assert_eq!(browser.text("h1").await, heading, "[{case}] the page itself, not a refusal");

        // Assert: no secret in the page or its URLs.
        let html = browser.client.source().await.unwrap();
        assert!(!html.contains(&secret), "[{case}] the webhook secret is nowhere on {path}");
        let text = browser.text("body").await;
        assert!(!text.contains("secret="), "[{case}] no URL with a secret in the text of {path}: {text}");
        let urls = urls_on_page(&browser).await;
        assert!(!urls.is_empty(), "[{case}] the page's URLs were read");
        for url in &urls {
            assert!(!url.contains("secret=") && !url.contains(&secret), "[{case}] a URL with a secret: {url}");
        }

        // Assert: no form that changes anything but the sign-out, and no control it may not use.
        let forms = browser.client.find_all(Locator::Css("form[method=post]")).await.unwrap();
        let mut actions = Vec::new();
        for form in forms {
            actions.push(form.attr("action").await.unwrap().unwrap_or_default());
        }
        assert_eq!(actions, vec!["/console/sign-out"], "[{case}] the only POST form on {path} signs out");
        for button in ["Call power", "Disable", "Enable", "Rotate the webhook secret", "Turn exec on"] {
            assert!(!browser.has_button(button).await, "[{case}] no {button} button on {path}");
        }
        let buttons = button_texts(&browser).await;
        let controls = ["Call", "Disable", "Enable", "Rotate", "Turn exec", "Replay", "Apply"];
        assert!(
            !buttons.iter().any(|b| controls.iter().any(|c| b.contains(c))),
            "[{case}] no control among the buttons of {path}: {buttons:?}"
        );
    }

    // The same pages over plain HTTP hold the secret nowhere in their HTML (and neither does the
    // page of the call the instance received).
    let cookie = session_cookie(&app, &support).await;
    let receipt_page = format!("{instance_page}/receipts/{}", id(&receipt));
    for path in [&instance_page, &module_page, &receipt_page] {
        let (status, html) = get_page(&app, &cookie, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path} with a support session");
        assert!(!html.contains(&secret), "the webhook secret is nowhere in the HTML of {path}");
    }

    // Changes sent anyway, with the support session's own valid token, are refused by role.
    let csrf = csrf_of(&app, &cookie, "/console/systems").await;
    let changes = [
        ("switch", format!("{instance_page}/switch?enabled=false"), vec![("csrf", csrf.clone())]),
        ("rotate", format!("{instance_page}/rotate"), vec![("csrf", csrf.clone())]),
        ("module call", format!("{module_page}/power"), vec![("csrf", csrf.clone()), ("args.state", "true".into())]),
    ];
    for (case, path, form) in &changes {
        // Act
        let (status, page) = post_form(&app, &cookie, path, form, &[]).await;

        // Assert: refused for the role (its token was good), not for the token.
        assert_eq!(status, StatusCode::FORBIDDEN, "[{case}] POST {path} by a support session: {page}");
        assert!(page.contains("code: forbidden"), "[{case}] POST {path} is refused because it may only read: {page}");
    }
    let instance = app.hook_state(&hook).await;
    assert_eq!(instance["webhook_secret"], json!(secret), "the secret was not rotated");
    assert_eq!(instance["enabled"], json!(true), "the instance was not switched off");
    let status = app.get_ok(&format!("/systems/{sys}/Display_1")).await;
    assert_eq!(status["power"], json!(false), "the display was not powered on: {status}");
}

#[tokio::test]
async fn a_refused_system_edit_is_shown_at_its_field() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Boardroom").await;
    let path = format!("/console/systems/{}/edit", id(&system));
    let cookie = session_cookie(&app, &app.admin_key).await;
    let csrf = csrf_of(&app, &cookie, &format!("/console/systems/{}", id(&system))).await;
    let cases = [("an empty name", String::new()), ("a name too long", "n".repeat(257))];

    for (case, name) in cases {
        // Act
        let form = [("csrf", csrf.clone()), ("name", name), ("description", "Level 3".to_owned())];
        let (status, page) = post_form(&app, &cookie, &path, &form, &[]).await;

        // Assert: 422, and the message next to the name input, which is marked invalid.
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "[{case}] POST {path}: {page}");
        let input = page.find("<input id=\"f-name\"").map(|at| &page[at..at + page[at..].find('>').unwrap_or(0)]);
        let main = page.find("<main>").map_or(page.as_str(), |at| &page[at..]);
        assert!(
            input.is_some_and(|i| i.contains("aria-invalid=\"true\"")),
            "[{case}] the name input is marked invalid; it is {input:?} in: {main}"
        );
        let marker = "<p class=\"field-error\" id=\"f-name-error\">";
        let message = page.find(marker).map(|at| &page[at + marker.len()..]).and_then(|m| m.split("</p>").next());
        assert!(
            message.is_some_and(|m| m.contains("name")),
            "[{case}] the server's message is at the name field; it is {message:?} in: {main}"
        );
    }
    let stored = app.get_ok(&format!("/systems/{}", id(&system))).await;
    assert_eq!(stored["name"], json!("Boardroom"), "nothing was saved");
}
