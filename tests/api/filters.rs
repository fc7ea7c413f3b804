//! Payload filters: a call the trigger's `webhook_filter` does not match is answered
//! `202 {"fired": false, "filtered": true}` and counts for nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::test_driver;

/// One call as a filter sees it.
#[derive(Clone, Copy)]
struct Probe {
    headers: &'static [(&'static str, &'static str)],
    /// Extra query parameters, appended after the secret.
    query: &'static str,
    body: &'static str,
}

const fn body(body: &'static str) -> Probe {
    Probe { headers: &[], query: "", body }
}

/// A call with one header (a macro, so that the header list is a promoted constant).
macro_rules! header {
    ($name:literal, $value:literal) => {
        Probe { headers: &[($name, $value)], query: "", body: "" }
    };
}

const fn query(query: &'static str) -> Probe {
    Probe { headers: &[], query, body: "" }
}

impl Probe {
    async fn send(self, app: &TestApp, hook: &Hook) -> reqwest::Response {
        let url = if self.query.is_empty() { hook.url(app) } else { format!("{}&{}", hook.url(app), self.query) };
        let headers: Vec<(&str, String)> = self.headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        app.call_hook(&url, &headers, self.body).await
    }
}

fn all(rule: Value) -> Value {
    json!({ "all": [rule] })
}

async fn assert_filtered(res: reqwest::Response, hook: &Hook, count: u64, case: &str) {
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 202, "[{case}] a filtered call is still accepted: {body}");
    assert_eq!(
        (&body["trigger_instance"], &body["fired"], &body["filtered"], &body["trigger_count"]),
        (&json!(hook.id()), &json!(false), &json!(true), &json!(count)),
        "[{case}] {body}"
    );
}

async fn assert_fires(res: reqwest::Response, count: u64, case: &str) {
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 202, "[{case}] {body}");
    assert_eq!((&body["fired"], &body["trigger_count"]), (&json!(true), &json!(count)), "[{case}] {body}");
    assert!(body.get("filtered").is_none_or(|f| f == false), "[{case}] a matching call is not filtered: {body}");
}

#[tokio::test]
async fn every_operator_lets_matching_calls_fire_and_filters_the_rest() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let trigger_path = format!("/triggers/{}", hook.trigger);
    let cases: Vec<(&str, Value, Probe, Probe)> = vec![
        (
            "equal",
            all(json!({"pointer": "/action", "operator": "equal", "value": "opened"})),
            body(r#"{"action":"opened"}"#),
            body(r#"{"action":"closed"}"#),
        ),
        (
            "not_equal",
            all(json!({"pointer": "/action", "operator": "not_equal", "value": "closed"})),
            body(r#"{"action":"opened"}"#),
            body(r#"{"action":"closed"}"#),
        ),
        (
            "greater_than",
            all(json!({"pointer": "/n", "operator": "greater_than", "value": 5})),
            body(r#"{"n":6}"#),
            body(r#"{"n":5}"#),
        ),
        (
            "greater_than_or_equal",
            all(json!({"pointer": "/n", "operator": "greater_than_or_equal", "value": 5})),
            body(r#"{"n":5}"#),
            body(r#"{"n":4.5}"#),
        ),
        (
            "less_than",
            all(json!({"pointer": "/n", "operator": "less_than", "value": 5})),
            body(r#"{"n":4}"#),
            body(r#"{"n":5}"#),
        ),
        (
            "less_than_or_equal",
            all(json!({"pointer": "/n", "operator": "less_than_or_equal", "value": 5})),
            body(r#"{"n":5}"#),
            body(r#"{"n":6}"#),
        ),
        (
            "exists",
            all(json!({"pointer": "/issue/id", "operator": "exists"})),
            body(r#"{"issue":{"id":0}}"#),
            body(r#"{"issue":{}}"#),
        ),
        (
            "not_exists",
            all(json!({"pointer": "/deleted", "operator": "not_exists"})),
            body(r#"{"id":1}"#),
            body(r#"{"deleted":false}"#),
        ),
        (
            "contains in an array",
            all(json!({"pointer": "/labels", "operator": "contains", "value": "bug"})),
            body(r#"{"labels":["ui","bug"]}"#),
            body(r#"{"labels":["ui"]}"#),
        ),
        (
            "contains in a string",
            all(json!({"pointer": "/title", "operator": "contains", "value": "fix"})),
            body(r#"{"title":"a fix for it"}"#),
            body(r#"{"title":"a feature"}"#),
        ),
        (
            "in",
            all(json!({"pointer": "/env", "operator": "in", "value": ["prod", "staging"]})),
            body(r#"{"env":"staging"}"#),
            body(r#"{"env":"dev"}"#),
        ),
        (
            "matches",
            all(json!({"pointer": "/ref", "operator": "matches", "value": "^refs/heads/release-[0-9]+$"})),
            body(r#"{"ref":"refs/heads/release-12"}"#),
            body(r#"{"ref":"refs/heads/main"}"#),
        ),
        (
            "header equal, any case of the name",
            all(json!({"header": "X-Event", "operator": "equal", "value": "push"})),
            header!("x-event", "push"),
            header!("X-Event", "Push"),
        ),
        (
            "header exists",
            all(json!({"header": "X-Event", "operator": "exists"})),
            header!("X-Event", "anything"),
            header!("X-Other", "anything"),
        ),
        (
            "header matches",
            all(json!({"header": "User-Agent", "operator": "matches", "value": "^GitHub-Hookshot/"})),
            header!("User-Agent", "GitHub-Hookshot/abc123"),
            header!("User-Agent", "curl/8.0"),
        ),
        (
            "query equal",
            all(json!({"query": "kind", "operator": "equal", "value": "deploy"})),
            query("kind=deploy"),
            query("kind=build"),
        ),
        (
            "query in",
            all(json!({"query": "kind", "operator": "in", "value": ["a", "b"]})),
            query("kind=b"),
            query("kind=c"),
        ),
        (
            "query not_exists",
            all(json!({"query": "dry_run", "operator": "not_exists"})),
            query("kind=a"),
            query("dry_run=1"),
        ),
        (
            "all: every rule must match",
            json!({"all": [
                {"pointer": "/n", "operator": "greater_than", "value": 1},
                {"query": "kind", "operator": "equal", "value": "a"},
            ]}),
            Probe { headers: &[], query: "kind=a", body: r#"{"n":2}"# },
            Probe { headers: &[], query: "kind=b", body: r#"{"n":2}"# },
        ),
        (
            "any: one rule is enough",
            json!({"any": [
                {"pointer": "/n", "operator": "greater_than", "value": 100},
                {"header": "X-Force", "operator": "equal", "value": "yes"},
            ]}),
            Probe { headers: &[("X-Force", "yes")], query: "", body: r#"{"n":2}"# },
            Probe { headers: &[("X-Force", "no")], query: "", body: r#"{"n":2}"# },
        ),
    ];

    let mut count = 0;
    for (case, filter, matching, missing) in cases {
        app.send_ok(Method::PATCH, &trigger_path, &json!({"webhook_filter": filter})).await;

        // Act
        let filtered = missing.send(&app, &hook).await;
        let fired = matching.send(&app, &hook).await;

        // Assert
        assert_filtered(filtered, &hook, count, case).await;
        count += 1;
        assert_fires(fired, count, case).await;
    }
    assert_eq!(app.trigger_count(&hook).await, count);
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_every_pointer_rule() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let trigger_path = format!("/triggers/{}", hook.trigger);
    let rules = [
        json!({"pointer": "/a", "operator": "exists"}),
        json!({"pointer": "/a", "operator": "not_exists"}),
        json!({"pointer": "", "operator": "exists"}),
        json!({"pointer": "/a", "operator": "not_equal", "value": 1}),
    ];

    for rule in rules {
        app.send_ok(Method::PATCH, &trigger_path, &json!({"webhook_filter": all(rule.clone())})).await;

        // Act
        let res = body("a=1&b=not json").send(&app, &hook).await;

        // Assert
        assert_filtered(res, &hook, 0, &rule.to_string()).await;
    }
    let header_rule = all(json!({"header": "X-Event", "operator": "exists"}));
    app.send_ok(Method::PATCH, &trigger_path, &json!({"webhook_filter": header_rule})).await;
    let res = Probe { headers: &[("X-Event", "x")], query: "", body: "not json" }.send(&app, &hook).await;
    assert_fires(res, 1, "a header rule does not read the body").await;
}

#[tokio::test]
async fn a_github_merged_pull_request_filter_fires_only_for_merges() {
    // Arrange: a signed GitHub hook that only counts merged pull requests.
    let app = spawn_app().await;
    let secret = "gh-filter-secret";
    let filter = json!({"all": [
        {"header": "X-GitHub-Event", "operator": "equal", "value": "pull_request"},
        {"pointer": "/action", "operator": "equal", "value": "closed"},
        {"pointer": "/pull_request/merged", "operator": "equal", "value": true},
    ]});
    let hook = app.hook(json!({"webhook_verification": {"scheme": "github"}, "webhook_filter": filter})).await;
    app.set_signing_secret(&hook, json!({"secret": secret})).await;
    let cases = [
        ("a push", "push", r#"{"ref":"refs/heads/main"}"#, false),
        ("a pull request opened", "pull_request", r#"{"action":"opened","pull_request":{"merged":false}}"#, false),
        ("closed unmerged", "pull_request", r#"{"action":"closed","pull_request":{"merged":false}}"#, false),
        ("closed and merged", "pull_request", r#"{"action":"closed","pull_request":{"merged":true,"number":7}}"#, true),
    ];

    for (case, event, payload, fires) in cases {
        let mut headers = sign::github(secret, payload.as_bytes());
        headers.push(("X-GitHub-Event", event.to_owned()));
        headers.push(("X-GitHub-Delivery", delivery_id("gh-filter-")));

        // Act
        let res = app.call_hook(&hook.url(&app), &headers, payload).await;

        // Assert
        if fires {
            assert_fires(res, 1, case).await;
        } else {
            assert_filtered(res, &hook, 0, case).await;
        }
    }
    let unsigned = app.call_hook(&hook.url(&app), &[("X-GitHub-Event", "pull_request".into())], "{}").await;
    assert_error(unsigned, 401, "invalid_signature").await;
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn a_filtered_exec_call_runs_nothing() {
    // Arrange
    let app = spawn_app_with_drivers(test_driver::registry()).await;
    let system = app.create_system("Filtered exec").await;
    app.create_module("Probe", Some(id(&system))).await;
    let filter = all(json!({"pointer": "/run", "operator": "equal", "value": true}));
    let trigger = app
        .create_trigger(
            json!({"name": "Exec", "enable_webhook": true, "supported_methods": ["POST"], "webhook_filter": filter}),
        )
        .await;
    let instance = app
        .create(
            &format!("/systems/{}/triggers", id(&system)),
            json!({"trigger_id": id(&trigger), "exec_enabled": true}),
        )
        .await;
    let hook = Hook { system: id(&system).to_owned(), trigger: id(&trigger).to_owned(), instance };
    let exec_url = format!("{}&exec=true&mod=Probe_1&method=echo", hook.url(&app));
    let module_status = format!("/systems/{}/Probe_1", hook.system);

    // Act
    let filtered = app.call_hook(&exec_url, &[], r#"{"run":false}"#).await;

    // Assert
    assert_filtered(filtered, &hook, 0, "exec with a non-matching body").await;
    assert_eq!(app.get_ok(&module_status).await.get("last"), None, "the driver never saw the call");
    let matching = app.call_hook(&exec_url, &[], r#"{"run":true}"#).await;
    assert_eq!(matching.status(), 201, "a matching call reaches the driver, which answers 201");
    assert_eq!(app.get_ok(&module_status).await["last"], "echo");
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn invalid_filters_are_422_naming_a_field_inside_webhook_filter() {
    let app = spawn_app().await;
    let cases = [
        (
            "an invalid regex",
            all(json!({"pointer": "/a", "operator": "matches", "value": "("})),
            Some("webhook_filter.all[0].value"),
        ),
        (
            "a regex that is not a string",
            all(json!({"pointer": "/a", "operator": "matches", "value": 5})),
            Some("webhook_filter.all[0].value"),
        ),
        (
            "an unknown operator",
            all(json!({"pointer": "/a", "operator": "resembles", "value": 1})),
            Some("webhook_filter.all[0].operator"),
        ),
        ("a missing value", all(json!({"pointer": "/a", "operator": "equal"})), Some("webhook_filter.all[0].value")),
        (
            "a value with exists",
            all(json!({"pointer": "/a", "operator": "exists", "value": 1})),
            Some("webhook_filter.all[0].value"),
        ),
        (
            "in without an array",
            all(json!({"pointer": "/a", "operator": "in", "value": "x"})),
            Some("webhook_filter.all[0].value"),
        ),
        (
            "a header compared with a number",
            all(json!({"header": "X-N", "operator": "equal", "value": 5})),
            Some("webhook_filter.all[0].value"),
        ),
        (
            "a pointer without a leading slash",
            all(json!({"pointer": "a/b", "operator": "exists"})),
            Some("webhook_filter.all[0].pointer"),
        ),
        ("a rule without a source", all(json!({"operator": "exists"})), None),
        ("a rule with two sources", all(json!({"pointer": "/a", "header": "X-A", "operator": "exists"})), None),
        ("neither all nor any", json!({"none": []}), None),
        ("both all and any", json!({"all": [], "any": []}), None),
        ("not an object", json!([]), None),
        (
            "a bad second rule of any",
            json!({"any": [{"pointer": "/a", "operator": "exists"}, {"pointer": "/b", "operator": "matches", "value": "[z-a]"}]}),
            Some("webhook_filter.any[1].value"),
        ),
    ];
    for (case, filter, field) in cases {
        let res = app.post("/triggers", &json!({"name": "Bad filter", "webhook_filter": filter})).await;
        let err = assert_rejected(res, case, 422, "invalid_field", field).await;
        let named = err["field"].as_str().unwrap();
        assert!(named.starts_with("webhook_filter"), "[{case}] the field is inside webhook_filter: {named}");
    }

    let trigger = app.create_trigger(json!({"name": "Edited"})).await;
    let path = format!("/triggers/{}", id(&trigger));
    let bad = all(json!({"pointer": "/a", "operator": "matches", "value": "("}));
    let res = app.patch(&path, &json!({"webhook_filter": bad})).await;
    assert_rejected(res, "PATCH", 422, "invalid_field", Some("webhook_filter.all[0].value")).await;
    let res = app.put(&path, &json!({"name": "Edited", "webhook_filter": bad})).await;
    assert_rejected(res, "PUT", 422, "invalid_field", Some("webhook_filter.all[0].value")).await;
    assert_eq!(app.get_ok(&path).await["webhook_filter"], Value::Null, "refused edits change nothing");
}

#[tokio::test]
async fn a_filter_is_stored_as_given_and_cleared_with_null() {
    // Arrange
    let app = spawn_app().await;
    let filter = json!({"any": [
        {"pointer": "/pull_request/merged", "operator": "equal", "value": true},
        {"header": "X-GitHub-Event", "operator": "in", "value": ["release", "deployment"]},
        {"query": "kind", "operator": "matches", "value": "^re"},
        {"pointer": "/x", "operator": "not_exists"},
    ]});
    let trigger = app.create_trigger(json!({"name": "Filtered", "webhook_filter": filter})).await;
    let path = format!("/triggers/{}", id(&trigger));

    // Act
    let fetched = app.get_ok(&path).await;
    let cleared = app.send_ok(Method::PATCH, &path, &json!({"webhook_filter": null})).await;

    // Assert
    assert_eq!(trigger["webhook_filter"], filter);
    assert_eq!(fetched["webhook_filter"], filter);
    assert_eq!(cleared["webhook_filter"], Value::Null);
}
