//! Accessibility checks with axe-core, pinned, installed from npm into cargo's target directory on first
//! use (Node.js's npm is needed; the tests stop naming it when it is missing). Test tooling only: the
//! console never serves it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::browser::Browser;

const AXE_VERSION: &str = "4.14.1";

fn axe_source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("axe-core-{AXE_VERSION}"));
            let file = dir.join("node_modules/axe-core/axe.min.js");
            if !file.exists() {
                let installed = Command::new("npm")
                    .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&dir)
                    .arg(format!("axe-core@{AXE_VERSION}"))
                    .status();
                assert!(
                    installed.is_ok_and(|s| s.success()),
                    "the accessibility checks need axe-core from npm: install Node.js's npm (Debian package npm)"
                );
            }
            std::fs::read_to_string(&file).expect("axe-core's script")
        })
        .clone()
}

/// The serious and critical axe-core violations of the page the browser shows.
pub async fn serious_violations(browser: &Browser) -> Vec<Value> {
    let script = format!(
        "{}\nconst done = arguments[arguments.length - 1];\
         axe.run(document, {{ resultTypes: ['violations'] }}).then(r => done(r.violations), e => done([{{ id: 'axe-failed', impact: 'critical', help: String(e) }}]));",
        axe_source()
    );
    let found = browser.client.execute_async(&script, vec![]).await.expect("axe-core runs in the page");
    let all = found.as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect()
}
