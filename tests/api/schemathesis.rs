//! Schemathesis, with every check, against the served `/api/engine/v2/openapi.json`: what the document
//! promises (request shapes accepted and refused, statuses, content types, response bodies and headers,
//! `Allow` on 405s) is what the server does.
//!
//! Schemathesis runs at a pinned version from PyPI in a venv made under cargo's target directory; the
//! first run installs it (python3 with its venv module is needed). The settings it reads are in
//! `tests/schemathesis/schemathesis.toml`; the test adds the ids of one seeded system, module, trigger,
//! instance, receipt and run, so that operations reach real resources and not only 404s.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const VERSION: &str = "4.32.5";

fn venv() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schemathesis-{VERSION}"))
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// Debian's Python with its venv module, installed as root; anyone else is told what to install.
fn install_python() {
    const PACKAGES: [&str; 3] = ["python3", "python3-venv", "python3-pip"];
    let uid = run(Command::new("id").arg("-u"));
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    assert!(root, "the schemathesis test needs Python 3 with venv and pip: apt-get install {}", PACKAGES.join(" "));
    assert!(run(Command::new("apt-get").arg("update")).status.success(), "apt-get update failed");
    let installed = run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends"]).args(PACKAGES));
    assert!(installed.status.success(), "apt-get install failed: {}", String::from_utf8_lossy(&installed.stderr));
}

/// The `st` executable, installed on first use.
fn schemathesis() -> PathBuf {
    let venv = venv();
    let st = venv.join("bin/st");
    let ready = venv.join(".installed");
    if ready.exists() {
        return st;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let make_venv = || Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv).output();
    if !make_venv().is_ok_and(|out| out.status.success()) {
        install_python();
    }
    let made = make_venv().unwrap_or_else(|e| panic!("could not run {python}: {e}"));
    assert!(made.status.success(), "{python} -m venv failed: {}", String::from_utf8_lossy(&made.stderr));
    let pip = run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("schemathesis=={VERSION}"),
    ]));
    assert!(
        pip.status.success(),
        "pip could not install schemathesis {VERSION}: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&ready, VERSION).expect("mark the venv ready");
    st
}

/// A system with a module, a webhook trigger with an action applied to it, and one call of its webhook:
/// real ids for every kind of path parameter. The webhook operations get an instance of their own, in
/// a system of its own, which the admin operations (that disable, rotate and replace) never touch.
async fn seed(app: &TestApp) -> Value {
    let every_method = json!({
        "supported_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "actions": {"functions": [{"mod": "Display_1", "method": "power", "args": {"state": true}}]},
    });
    let system = app.create_system("Schemathesis room").await;
    let module = app.create_module("Display", Some(id(&system))).await;
    let hook = app.hook_in(id(&system), every_method.clone()).await;
    let res = app.client.post(hook.url(app)).json(&json!({"door": "open"})).send().await.unwrap();
    assert_eq!(res.status(), 202, "the seeding call fires");
    let receipt = app.receipts_eventually(&hook, 1).await.remove(0);
    let runs = eventually(10, "the seeded fire's run", || async {
        let (runs, _) = app.list(&format!("{}/runs", hook.path())).await;
        (!runs.is_empty()).then_some(runs)
    })
    .await;
    let webhook_system = app.create_system("Schemathesis webhooks").await;
    app.create_module("Display", Some(id(&webhook_system))).await;
    let webhook = app.hook_in(id(&webhook_system), every_method).await;
    app.send_ok(Method::PATCH, &webhook.path(), &json!({"exec_enabled": true})).await;
    let key = app.create("/api_keys", json!({"name": "seeded", "role": "support"})).await;
    let subscription = app
        .create("/webhooks", json!({"name": "seeded", "url": "https://receiver.example.com/hook", "events": ["*"]}))
        .await;
    let callout = json!({
        "name": "seeded", "url": "https://receiver.example.com/may", "on": ["exec", "actions"], "enabled": false,
    });
    let callout = app.create("/callouts", callout).await;
    json!({
        "id": hook.system,
        "module": "Display_1",
        "trig_id": hook.id(),
        "rcpt_id": receipt["id"],
        "run_id": runs[0]["id"],
        "module_id": id(&module),
        "trigger_id": hook.trigger,
        "key_id": id(&key),
        "subscription_id": id(&subscription),
        "callout_id": id(&callout),
        "webhook_instance": webhook.id(),
        "secret": webhook.secret(),
    })
}

/// The settings file with the seeded ids appended as per-operation parameters. Deleting operations
/// keep generated ids, so the seeded resources stay for the others.
fn config(seeded: &Value, dir: &Path) -> PathBuf {
    let s = |key: &str| seeded[key].as_str().unwrap_or_else(|| panic!("seeded {key}")).to_owned();
    let p = |name: &str, key: &str| (format!("path.{name}"), s(key));
    let instance = vec![p("id", "id"), p("trig_id", "trig_id"), p("rcpt_id", "rcpt_id"), p("run_id", "run_id")];
    let sections = [
        (r"^/api/engine/v2/systems/\{id\}(/triggers/\{trig_id\})?", instance),
        (r"^/api/engine/v2/systems/\{id\}/\{module\}", vec![p("id", "id"), p("module", "module")]),
        (r"^/api/engine/v2/modules/\{id\}", vec![p("id", "module_id")]),
        (r"^/api/engine/v2/triggers/\{id\}", vec![p("id", "trigger_id")]),
        (r"^/api/engine/v2/api_keys/\{id\}", vec![p("id", "key_id")]),
        (r"^/api/engine/v2/webhooks/\{id\}", vec![p("id", "subscription_id")]),
        (r"^/api/engine/v2/callouts/\{id\}", vec![p("id", "callout_id")]),
        (
            r"^/api/engine/v2/webhook/\{trig_id\}/notify$",
            vec![p("trig_id", "webhook_instance"), ("query.secret".into(), s("secret"))],
        ),
        (r"^/api/engine/v2/webhook/\{trig_id\}/notify/", vec![p("trig_id", "webhook_instance"), p("secret", "secret")]),
    ];
    let mut text = include_str!("../schemathesis/schemathesis.toml").to_owned();
    for (regex, params) in sections {
        text.push_str(&format!("\n[[operations]]\ninclude-path-regex = '{regex}'\nexclude-method = \"DELETE\"\n"));
        text.push_str("[operations.parameters]\n");
        for (key, value) in params {
            text.push_str(&format!("\"{key}\" = \"{value}\"\n"));
        }
    }
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).expect("write the schemathesis settings");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_the_served_document() {
    let st = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    let app = spawn_app().await;
    let seeded = seed(&app).await;
    // Its own working directory, so that no cache of an earlier run (`.schemathesis/`) steers this one.
    let dir = tempfile::TempDir::new().expect("temp dir");
    let config = config(&seeded, dir.path());
    let cwd = dir.path().to_path_buf();
    let schema = app.api("/openapi.json");
    let key = format!("X-API-Key: {}", app.admin_key);
    let output = tokio::task::spawn_blocking(move || {
        run(Command::new(st)
            .current_dir(cwd)
            .arg("--config-file")
            .arg(&config)
            .args(["--no-color", "run", &schema, "--checks", "all", "-H", &key])
            .env_remove("SCHEMATHESIS_HOOKS"))
    })
    .await
    .unwrap();
    let report = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains(" passed") && !report.contains("FAILURES"), "schemathesis did not test cleanly:\n{report}");
}
