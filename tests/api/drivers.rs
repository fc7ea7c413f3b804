//! The shipped drivers, each driven through a real trigger webhook URL.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

/// A system holding one module of `driver`, and an exec-enabled webhook instance for it.
async fn rig(app: &TestApp, driver: &str, settings: Value) -> (String, Value) {
    let system = app.create_system("Driver room").await;
    let sys = id(&system).to_owned();
    app.create("/modules", json!({"driver": driver, "control_system_id": sys, "settings": settings})).await;
    let trigger = app
        .create_trigger(json!({"name": driver, "enable_webhook": true, "supported_methods": ["GET", "POST", "PUT"]}))
        .await;
    let instance = app
        .create(&format!("/systems/{sys}/triggers"), json!({"trigger_id": id(&trigger), "exec_enabled": true}))
        .await;
    (sys, instance)
}

fn exec_url(instance: &Value, module: &str, method: &str) -> String {
    format!("{}&exec=true&mod={module}&method={method}", instance["webhook_url"].as_str().unwrap())
}

#[tokio::test]
async fn drivers_are_listed_with_their_webhook_methods() {
    let app = spawn_app().await;
    let drivers = json(app.get("/drivers").await).await;
    let webhook_methods: Vec<(String, String)> = drivers
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["functions"].as_array().unwrap().iter().filter(|f| f["webhook"] == true).map(move |f| {
                (d["default_module_name"].as_str().unwrap().to_owned(), f["name"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    for expected in
        [("Display", "request"), ("Meraki", "scanning_api"), ("Mist", "location_webhook"), ("Forward", "forward")]
    {
        assert!(
            webhook_methods.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {webhook_methods:?}"
        );
    }
}

#[tokio::test]
async fn meraki_validates_with_get_and_checks_the_secret_on_post() {
    let app = spawn_app().await;
    let (sys, inst) = rig(&app, "Meraki Scanning", json!({"validator": "abc123validator", "secret": "s3cret"})).await;
    let url = exec_url(&inst, "Meraki", "scanning_api");

    let validation = app.client.get(&url).send().await.unwrap();
    assert_eq!(validation.status(), 200);
    assert!(validation.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(validation.text().await.unwrap(), "abc123validator");

    let wrong = app.client.post(&url).json(&json!({"secret": "nope", "version": "3.0"})).send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let observations = json!({
        "version": "3.0", "secret": "s3cret", "type": "WiFi",
        "data": {"networkId": "N_1", "observations": [{"clientMac": "aa"}, {"clientMac": "bb"}, {"clientMac": "cc"}]}
    });
    let ok = app.client.post(&url).json(&observations).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let status = json(app.get(&format!("/systems/{sys}/Meraki")).await).await;
    assert_eq!(status["observation_count"], 3);
    assert_eq!(status["version"], "3.0");
}

fn mist_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn mist_accepts_only_correctly_signed_location_events() {
    let app = spawn_app().await;
    let (sys, inst) = rig(&app, "Mist Location", json!({"secret": "mist-secret"})).await;
    let url = exec_url(&inst, "Mist", "location_webhook");
    let body = serde_json::to_vec(&json!({
        "topic": "location",
        "events": [{"mac": "11", "x": 1.0, "y": 2.0}, {"mac": "22", "x": 3.5, "y": 4.5, "map_id": "m1"}]
    }))
    .unwrap();

    for (case, signature) in [
        ("missing", None),
        ("wrong key", Some(mist_signature("other", &body))),
        ("not hex", Some("zz".to_owned())),
        ("other body", Some(mist_signature("mist-secret", b"{}"))),
    ] {
        let mut req = app.client.post(&url).body(body.clone());
        if let Some(sig) = signature {
            req = req.header("X-Mist-Signature-v2", sig);
        }
        assert_eq!(req.send().await.unwrap().status(), 401, "{case}");
    }
    assert_eq!(json(app.get(&format!("/systems/{sys}/Mist")).await).await, json!({}), "nothing recorded");

    let signed = app
        .client
        .post(&url)
        .header("X-Mist-Signature-v2", mist_signature("mist-secret", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let status = json(app.get(&format!("/systems/{sys}/Mist")).await).await;
    assert_eq!(status["last_location"], json!({"mac": "22", "x": 3.5, "y": 4.5, "map_id": "m1"}));
    assert_eq!(status["topic"], "location");
}

async fn upstream_echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers: serde_json::Map<String, Value> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default()))).collect();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(207).unwrap()).insert_header(("x-upstream", "yes")).json(
        json!({
            "method": req.method().as_str(),
            "query": req.query_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }),
    )
}

#[tokio::test]
async fn forward_relays_to_the_upstream_and_returns_its_answer() {
    let upstream =
        HttpServer::new(|| App::new().default_service(web::to(upstream_echo))).workers(1).bind("127.0.0.1:0").unwrap();
    let port = upstream.addrs()[0].port();
    let upstream = upstream.run();
    let upstream_handle = upstream.handle();
    tokio::spawn(upstream);

    let app = spawn_app().await;
    let (_, inst) = rig(&app, "HTTP Forward", json!({"url": format!("http://127.0.0.1:{port}/hook?fixed=1")})).await;

    let res = app
        .client
        .request(Method::PUT, format!("{}&note=hi", exec_url(&inst, "Forward", "forward")))
        .header("X-Custom", "kept")
        .header("Connection", "keep-alive")
        .header("Content-Type", "text/plain")
        .body("payload")
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 207, "the upstream's status");
    assert_eq!(res.headers()["x-upstream"], "yes", "the upstream's headers");
    let seen = json(res).await;
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["body"], "payload");
    assert_eq!(seen["headers"]["x-custom"], "kept");
    assert_eq!(seen["headers"]["content-type"], "text/plain");
    assert_ne!(seen["headers"]["connection"], "keep-alive", "hop-by-hop headers are not relayed");
    assert_eq!(seen["query"], "fixed=1&note=hi", "the engine's own parameters stay behind");
    upstream_handle.stop(false).await;
}

#[tokio::test]
async fn forward_to_an_unreachable_upstream_is_502() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = spawn_app().await;
    let url = format!("http://127.0.0.1:{closed_port}/hook/T0KEN?token=s3cr3t");
    let (_, inst) = rig(&app, "HTTP Forward", json!({ "url": url })).await;

    let res = app.client.post(exec_url(&inst, "Forward", "forward")).body("x").send().await.unwrap();

    let body = assert_error(res, 502, "driver_error").await;
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("s3cr3t") && !message.contains("T0KEN"), "the upstream URL leaked: {message}");
}

#[tokio::test]
async fn support_keys_do_not_see_sensitive_settings() {
    let app = spawn_app().await;
    let (sys, _) = rig(&app, "Mist Location", json!({"secret": "mist-secret", "note": "lobby"})).await;
    let support = app.key_with_role("support").await;

    for path in ["/modules".to_owned(), format!("/systems/{sys}/modules")] {
        let as_support = json(app.with_key(Some(&support), Method::GET, &path).send().await.unwrap()).await;
        assert_eq!(as_support[0]["settings"], json!({"secret": null, "note": "lobby"}), "{path}");
        let as_admin = json(app.get(&path).await).await;
        assert_eq!(as_admin[0]["settings"]["secret"], "mist-secret", "{path}");
    }
    let module_id = json(app.get("/modules").await).await[0]["id"].as_str().unwrap().to_owned();
    let one =
        json(app.with_key(Some(&support), Method::GET, &format!("/modules/{module_id}")).send().await.unwrap()).await;
    assert_eq!(one["settings"]["secret"], json!(null));
}
