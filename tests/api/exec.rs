//! `exec=true`: a trigger webhook passing the HTTP request to a module's webhook method.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::test_driver;
use switchboard::startup::Options;

struct Rig {
    app: TestApp,
    system: String,
    instance: Value,
}

impl Rig {
    async fn new(exec_enabled: bool) -> Self {
        Self::with_app(spawn_app_with_drivers(test_driver::registry()).await, exec_enabled).await
    }

    /// With a driver call timeout of `ms`.
    async fn with_call_timeout(ms: u64) -> Self {
        let options = Options { drivers: test_driver::registry(), ..Options::default() };
        Self::with_app(spawn_app_with_options(|c| c.drivers.call_timeout_ms = ms, options).await, true).await
    }

    async fn with_app(app: TestApp, exec_enabled: bool) -> Self {
        let system = app.create_system("Exec room").await;
        let sys = id(&system).to_owned();
        for driver in ["Display", "Display", "Probe"] {
            app.create_module(driver, Some(&sys)).await;
        }
        let trigger = app
            .create_trigger(json!({
                "name": "Exec", "enable_webhook": true,
                "supported_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            }))
            .await;
        let instance = app
            .create(
                &format!("/systems/{sys}/triggers"),
                json!({"trigger_id": id(&trigger), "exec_enabled": exec_enabled}),
            )
            .await;
        Rig { app, system: sys, instance }
    }

    fn url(&self, module: &str, method: &str) -> String {
        format!("{}&exec=true&mod={module}&method={method}", self.instance["webhook_url"].as_str().unwrap())
    }

    fn path_url(&self, module: &str, index: u32, method: &str) -> String {
        self.app.api(&format!(
            "/webhook/{}/notify/{}/{module}/{index}/{method}",
            id(&self.instance),
            self.instance["webhook_secret"].as_str().unwrap()
        ))
    }

    async fn count(&self) -> u64 {
        let state =
            json(self.app.get(&format!("/systems/{}/triggers/{}", self.system, id(&self.instance))).await).await;
        state["trigger_count"].as_u64().unwrap()
    }

    async fn status(&self, module: &str) -> Value {
        json(self.app.get(&format!("/systems/{}/{module}", self.system)).await).await
    }
}

#[tokio::test]
async fn refusals_happen_before_the_trigger_fires() {
    let rig = Rig::new(true).await;
    let disabled = Rig::new(false).await;

    for (case, url, status, code) in [
        ("exec disabled", disabled.url("Display_1", "request"), 403, "exec_disabled"),
        ("no such index", rig.url("Display_3", "request"), 404, "module_not_found"),
        ("no such module name", rig.url("Projector", "request"), 404, "module_not_found"),
        ("no such function", rig.url("Display_1", "explode"), 404, "method_not_found"),
        ("not a webhook method", rig.url("Display_1", "power"), 404, "method_not_found"),
        ("admin-level webhook method", rig.url("Probe_1", "admin_hook"), 403, "forbidden_method"),
    ] {
        let res = rig.app.client.post(&url).json(&json!({"power": true})).send().await.unwrap();
        let body = assert_error(res, status, code).await;
        assert!(!body["message"].as_str().unwrap().contains("secret"), "{case}");
    }
    assert_eq!(rig.count().await, 0);
    assert_eq!(disabled.count().await, 0);
    assert_eq!(rig.status("Display_1").await["power"], false, "nothing reached the display");
}

#[tokio::test]
async fn display_2_request_applies_the_body_and_answers_with_the_driver_status() {
    let rig = Rig::new(true).await;

    let res = rig
        .app
        .client
        .post(rig.url("Display_2", "request"))
        .json(&json!({"power": true, "input": "hdmi2"}))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = json(res).await;
    assert_eq!((body["power"].clone(), body["input"].clone()), (json!(true), json!("hdmi2")));
    assert_eq!(rig.status("Display_2").await["power"], true);
    assert_eq!(rig.status("Display_1").await["power"], false, "only the second Display changed");
    assert_eq!(rig.count().await, 1, "an accepted exec fires the trigger");
}

#[tokio::test]
async fn every_reference_form_reaches_the_same_module() {
    let rig = Rig::new(true).await;
    let base = rig.instance["webhook_url"].as_str().unwrap();
    for (volume, url) in [
        (10, format!("{base}&exec=true&mod=Display&index=2&method=request")),
        (20, rig.url("Display_2", "request")),
        (30, rig.path_url("Display", 2, "request")),
    ] {
        let res = rig.app.client.put(&url).json(&json!({ "volume": volume })).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(rig.status("Display_2").await["volume"], volume);
    }
    assert_eq!(rig.status("Display_1").await["volume"], 50);
}

#[tokio::test]
async fn a_body_the_display_cannot_apply_is_its_400() {
    let rig = Rig::new(true).await;
    for body in [&b"not json"[..], br#"[1,2]"#, br#"{"volume": 300}"#, br#"{"power": true, "colour": "red"}"#] {
        let res = rig.app.client.post(rig.url("Display_1", "request")).body(body.to_vec()).send().await.unwrap();
        assert_eq!(res.status(), 400, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(rig.status("Display_1").await["power"], false, "a rejected body changes nothing");
}

#[tokio::test]
async fn the_driver_receives_method_headers_query_body_and_ids() {
    let rig = Rig::new(true).await;

    let res = rig
        .app
        .client
        .patch(format!("{}&extra=1&extra=2", rig.url("Probe_1", "echo")))
        .header("X-Multi", "a")
        .header("X-Multi", "b")
        .header("X-Request-ID", "req-123")
        .body("hello")
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 201, "the driver's status");
    assert_eq!(res.headers()["x-probe"], "yes", "the driver's headers");
    let seen = json(res).await;
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["body"], "hello");
    assert_eq!(seen["query"], json!([["extra", "1"], ["extra", "2"]]), "engine parameters are removed");
    let multi: Vec<&Value> =
        seen["headers"].as_array().unwrap().iter().filter(|h| h[0] == "x-multi").map(|h| &h[1]).collect();
    assert_eq!(multi, [&json!("a"), &json!("b")]);
    assert_eq!(seen["trigger_instance_id"], id(&rig.instance));
    assert_eq!(seen["system_id"], rig.system.as_str());
    assert_eq!(seen["request_id"], "req-123");
}

#[tokio::test]
async fn driver_failures_map_to_gateway_errors_and_the_module_survives() {
    // Time for a panic's backtrace (printed when RUST_BACKTRACE is set, as in CI) within the call.
    let rig = Rig::with_call_timeout(3000).await;

    for (method, status, code) in [
        ("fail", 502, "driver_error"),
        ("bad_status", 502, "driver_error"),
        ("slow", 504, "driver_timeout"),
        ("panic", 502, "driver_error"),
    ] {
        let res = rig.app.client.post(rig.url("Probe_1", method)).send().await.unwrap();
        let body = assert_error(res, status, code).await;
        if method == "fail" {
            assert!(body["message"].as_str().unwrap().contains("the probe is broken"), "the driver's message");
        }
    }
    let res = rig.app.client.get(rig.url("Probe_1", "echo")).send().await.unwrap();
    assert_eq!(res.status(), 201, "the module answers again after a panic");
    let other =
        rig.app.client.post(rig.url("Display_1", "request")).json(&json!({"power": true})).send().await.unwrap();
    assert_eq!(other.status(), 200, "other modules were never affected");
    let calls = rig.app.post(&format!("/systems/{}/Probe_1/calls", rig.system), &json!([])).await;
    assert_eq!(json(calls).await, 2, "the panic restarted the driver: only the echo and this call counted");
}

#[tokio::test]
async fn a_call_whose_caller_hangs_up_still_runs_to_the_end() {
    let rig = Rig::new(true).await;
    let gone = rig.app.client.post(rig.url("Probe_1", "nap")).timeout(Duration::from_millis(30)).send().await;
    assert!(gone.is_err(), "the caller gave up before the driver answered");
    assert_eq!(rig.status("Probe_1").await.get("napped"), None, "the driver is still asleep");
    eventually(3, "the abandoned call to finish", || async {
        (rig.status("Probe_1").await.get("napped") == Some(&json!(true))).then_some(())
    })
    .await;
}

#[tokio::test]
async fn admin_routes_call_functions_and_read_status() {
    let rig = Rig::new(true).await;
    let support = rig.app.key_with_role("support").await;
    let sys = &rig.system;

    let positional = rig.app.post(&format!("/systems/{sys}/Display_1/power"), &json!([true])).await;
    assert_eq!(positional.status(), 200);
    assert_eq!(json(positional).await["power"], true);
    let named = rig.app.post(&format!("/systems/{sys}/Display_2/volume"), &json!({"level": 75})).await;
    assert_eq!(json(named).await["volume"], 75);
    let by_support = rig
        .app
        .with_key(Some(&support), Method::POST, &format!("/systems/{sys}/Display_1/switch_to"))
        .json(&json!({"input": "hdmi3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_support.status(), 200, "support may call support-level functions");
    let status =
        rig.app.with_key(Some(&support), Method::GET, &format!("/systems/{sys}/Display_1")).send().await.unwrap();
    assert_eq!(json(status).await, json!({"power": true, "input": "hdmi3", "volume": 50}));

    let admin_only =
        rig.app.with_key(Some(&support), Method::POST, &format!("/systems/{sys}/Probe_1/reset")).send().await.unwrap();
    assert_error(admin_only, 403, "forbidden_method").await;
    assert_eq!(json(rig.app.post(&format!("/systems/{sys}/Probe_1/reset"), &json!({"to": 5})).await).await, 5);
}

#[tokio::test]
async fn admin_route_bad_calls_are_clear_errors() {
    let rig = Rig::new(true).await;
    let sys = &rig.system;
    let unknown_sys = unknown_id("sys-");
    for (case, path, body, status, code) in [
        ("out of range", format!("/systems/{sys}/Display_1/volume"), json!([120]), 422, "invalid_args"),
        ("wrong type", format!("/systems/{sys}/Display_1/power"), json!({"state": "on"}), 422, "invalid_field"),
        ("missing arg", format!("/systems/{sys}/Display_1/power"), json!({}), 422, "invalid_field"),
        (
            "unknown arg",
            format!("/systems/{sys}/Display_1/power"),
            json!({"state": true, "x": 1}),
            422,
            "invalid_field",
        ),
        ("no such module", format!("/systems/{sys}/Display_9/power"), json!([true]), 404, "module_not_found"),
        ("bad module ref", format!("/systems/{sys}/9Display/power"), json!([true]), 404, "module_not_found"),
        ("no such function", format!("/systems/{sys}/Display_1/explode"), json!([]), 404, "method_not_found"),
        ("webhook method", format!("/systems/{sys}/Display_1/request"), json!([]), 404, "method_not_found"),
        ("no such system", format!("/systems/{unknown_sys}/Display_1/power"), json!([true]), 404, "not_found"),
    ] {
        let res = rig.app.post(&path, &body).await;
        let status_got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status_got, status, "{case}: {text}");
        assert!(text.contains(&format!("\"{code}\"")), "{case}: {text}");
    }
    let no_key = rig.app.with_key(None, Method::POST, &format!("/systems/{sys}/Display_1/power")).send().await.unwrap();
    assert_error(no_key, 401, "unauthorized").await;
}

#[tokio::test]
async fn module_settings_are_checked_against_the_driver() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"driver": "Meraki Scanning", "settings": {"secret": "s"}}), "settings.validator"),
        (json!({"driver": "Meraki Scanning", "settings": {"validator": 5, "secret": "s"}}), "settings.validator"),
        (json!({"driver": "HTTP Forward", "settings": {}}), "settings.url"),
        (
            json!({"driver": "HTTP Forward", "settings": {"url": "http://x", "timeout_ms": "soon"}}),
            "settings.timeout_ms",
        ),
        (json!({"driver": "HTTP Forward", "settings": {"url": "ftp://x"}}), "settings.url"),
        (json!({"driver": "HTTP Forward", "settings": {"url": "http://x", "timeout_ms": 0}}), "settings.timeout_ms"),
        (json!({"driver": "Mist Location", "settings": {"secret": ""}}), "settings.secret"),
    ] {
        let res = app.post("/modules", &body).await;
        let err = assert_error(res, 422, "invalid_field").await;
        assert_eq!(err["field"], field, "{body}");
    }
    let ok = app
        .post("/modules", &json!({"driver": "Meraki Scanning", "settings": {"validator": "v", "secret": "s"}}))
        .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(json(ok).await["name"], "Meraki");
}
