//! Accessibility checks with axe-core 4.14.1, vendored under `tests/vendor/` with its licence (MPL-2.0).
//! Test tooling only: the console never serves it.

use serde_json::Value;

use crate::browser::Browser;

const AXE: &str = include_str!("../vendor/axe-core-4.14.1/axe.min.js");

/// The serious and critical axe-core violations of the page the browser shows.
pub async fn serious_violations(browser: &Browser) -> Vec<Value> {
    let script = format!(
        "{AXE}\nconst done = arguments[arguments.length - 1];\
         axe.run(document, {{ resultTypes: ['violations'] }}).then(r => done(r.violations), e => done([{{ id: 'axe-failed', impact: 'critical', help: String(e) }}]));"
    );
    let found = match browser.client.execute_async(&script, vec![]).await {
        Ok(found) => found,
        Err(e) => panic!("axe-core did not finish on {:?}: {e}", browser.client.current_url().await.ok()),
    };
    let all = found.as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect()
}
