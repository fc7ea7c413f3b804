//! The console, in Debian's headless Chromium against the real server, and its protections over HTTP.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::console_http::*;
use crate::helpers::*;

#[tokio::test]
async fn an_admin_signs_in_creates_a_system_by_typing_and_signs_out_at_both_widths() {
    for width in WIDTHS {
        // Arrange
        let app = spawn_app().await;
        let browser = Browser::start(width).await;

        // Act: sign in, then create a system through the form.
        browser.sign_in(&app.url(""), &app.admin_key).await;
        browser.reach("/console/systems").await;
        browser.screenshot(&format!("systems-{width}")).await;
        browser.fill("Name", "Boardroom").await;
        browser.fill("Description", "Level 3").await;
        browser.click_button("Create system").await;

        // Assert: the new system's page, and the system in the API.
        browser.reach("/console/systems/sys-").await;
        assert_eq!(browser.text("h1").await, "Boardroom");
        let (systems, _) = app.list("/systems").await;
        assert_eq!(systems.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(), vec![json!("Boardroom")]);
        browser.screenshot(&format!("system-{width}")).await;

        // Act: sign out.
        browser.click_button("Sign out").await;

        // Assert: back at sign-in, and the pages need a session again.
        browser.reach("/console/sign-in").await;
        browser.goto(&app.url("/console/systems")).await;
        assert_eq!(browser.path().await, "/console/sign-in", "[{width}] the session ended");
    }
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_a_message() {
    let app = spawn_app().await;
    let browser = Browser::start(1280).await;
    browser.sign_in(&app.url(""), "sbk_not-a-key").await;
    browser.reach("/console/sign-in").await;
    assert!(browser.text("[role=alert]").await.contains("not known"));
}

#[tokio::test]
async fn a_name_from_the_store_is_shown_as_text_never_as_markup() {
    // Arrange
    let app = spawn_app().await;
    let name = "<img src=x onerror=alert(1)>";
    let system = app.create_system(name).await;
    let browser = Browser::start(1280).await;

    // Act
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;
    browser.goto(&app.url(&format!("/console/systems/{}", id(&system)))).await;

    // Assert: the heading reads the name, and no image was made of it.
    assert_eq!(browser.text("h1").await, name);
    let images = browser.client.execute("return document.images.length", vec![]).await.unwrap();
    assert_eq!(images, json!(0));
}

#[tokio::test]
async fn a_refused_field_is_shown_next_to_its_input() {
    // Arrange
    let app = spawn_app().await;
    let browser = Browser::start(390).await;
    browser.sign_in(&app.url(""), &app.admin_key).await;
    browser.reach("/console/systems").await;

    // Act: a name of spaces only.
    browser.fill("Name", "   ").await;
    browser.click_button("Create system").await;
    browser.reach("/console/systems").await;

    // Assert
    let error = browser.text("#f-name-error").await;
    assert!(error.contains("name"), "the server's message at the field: {error}");
    let invalid =
        browser.client.execute("return document.getElementById('f-name').getAttribute('aria-invalid')", vec![]);
    assert_eq!(invalid.await.unwrap(), json!("true"));
    assert_eq!(app.list("/systems").await.1, 0, "nothing was created");
    browser.screenshot("refused-field-390").await;
}

#[tokio::test]
async fn a_support_key_reads_but_is_offered_no_change_and_refused_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_system("Lobby").await;
    let support = app.key_with_role("support").await;
    let browser = Browser::start(1280).await;

    // Act
    browser.sign_in(&app.url(""), &support).await;
    browser.reach("/console/systems").await;

    // Assert: the list, without the form that changes it.
    assert_eq!(browser.text("td a").await, "Lobby");
    assert!(!browser.has_button("Create system").await, "no control it may not use");
    assert!(browser.text(".role").await.contains("read only"));

    // And the change sent anyway, with its own valid CSRF token, is refused.
    let cookie = session_cookie(&app, &support).await;
    let csrf = csrf_of(&app, &cookie, "/console/systems").await;
    let res = raw_client()
        .post(app.url("/console/systems"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "Sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.list("/systems").await.1, 1);
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let cookie = session_cookie(&app, &app.admin_key).await;
    let csrf = csrf_of(&app, &cookie, "/console/systems").await;

    for (case, token) in [("no token", None), ("another token", Some("0".repeat(64)))] {
        // Act
        let mut fields = vec![("name", "Forged".to_owned())];
        fields.extend(token.map(|t| ("csrf", t)));
        let res = raw_client()
            .post(app.url("/console/systems"))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();

        // Assert
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "[{case}]");
        assert!(res.text().await.unwrap().contains("code: csrf"), "[{case}] says why");
    }
    assert_eq!(app.list("/systems").await.1, 0, "nothing was created");

    // The same form with the token goes through.
    let res = raw_client()
        .post(app.url("/console/systems"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "Real")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.list("/systems").await.1, 1);
}

#[tokio::test]
async fn every_console_answer_carries_the_security_headers_and_the_console_can_be_turned_off() {
    // Arrange
    let app = spawn_app().await;
    let cookie = session_cookie(&app, &app.admin_key).await;

    for path in ["/console/sign-in", "/console/systems", "/console/assets/console.css", "/console/nowhere"] {
        // Act
        let res = raw_client().get(app.url(path)).header("cookie", &cookie).send().await.unwrap();

        // Assert
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "[{path}] {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "[{path}] {csp}");
        assert_eq!((header("x-frame-options"), header("referrer-policy")), ("DENY".into(), "no-referrer".into()));
    }
    let root = raw_client().get(app.url("/")).send().await.unwrap();
    assert_eq!((root.status(), &root.headers()["location"]), (StatusCode::SEE_OTHER, &"/console/".parse().unwrap()));

    // Turned off: nothing answers but the API's 404.
    let off = spawn_app_with(|c| c.console.enabled = false).await;
    for path in ["/", "/console/", "/console/sign-in"] {
        let res = raw_client().get(off.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "[{path}]");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "[{path}]");
    }
}

#[tokio::test]
async fn a_session_ends_on_the_server_at_sign_out_and_when_its_key_is_deleted_and_so_does_its_stream() {
    // Arrange
    let app = spawn_app().await;
    let signed_out = session_cookie(&app, &app.admin_key).await;
    let csrf = csrf_of(&app, &signed_out, "/console/systems").await;
    let support = app.create("/api_keys", json!({ "name": "Desk", "role": "support" })).await;
    let deleted = session_cookie(&app, support["key"].as_str().unwrap()).await;
    let stream = raw_client().get(app.url("/console/events/stream")).header("cookie", &deleted).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut stream = stream.bytes_stream();
    use futures_util::StreamExt;
    assert!(String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).contains("connected"));

    // Act: sign one out; delete the other's key, then cause an event.
    let res = raw_client()
        .post(app.url("/console/sign-out"))
        .header("cookie", &signed_out)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.delete_ok(&format!("/api_keys/{}", id(&support))).await;
    app.create_system("After").await;

    // Assert: both cookies lead to the sign-in page, and the stream ended instead of sending the event.
    for (case, cookie) in [("signed out", &signed_out), ("key deleted", &deleted)] {
        let res = raw_client().get(app.url("/console/systems")).header("cookie", cookie).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "[{case}]");
        assert_eq!(res.headers()["location"], "/console/sign-in", "[{case}]");
    }
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), stream.collect::<Vec<_>>()).await;
    let rest = rest.expect("the stream ends");
    assert!(rest.iter().all(|chunk| !String::from_utf8_lossy(chunk.as_ref().unwrap()).contains("system.created")));
}
