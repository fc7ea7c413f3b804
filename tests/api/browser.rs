//! Debian's headless Chromium, driven through its WebDriver (`chromedriver`) with fantoccini.
//!
//! The packages `chromium` and `chromium-driver` are installed with apt-get when missing and the tests
//! run as root; otherwise the tests stop with a message naming them. Each [`Browser`] runs a
//! chromedriver of its own on a free port with a fresh profile, and stops it when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Chromium's narrowest window.
const MIN_WINDOW_WIDTH: u32 = 500;

/// Installs Chromium and its driver once per test process when they are missing.
fn ensure_installed() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
            return;
        }
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(
            root,
            "the console tests need Debian's packages chromium and chromium-driver: \
             apt-get install chromium chromium-driver (as root), then run the tests again"
        );
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !apt(&["install", "-y", "-q", "chromium", "chromium-driver"]) {
            assert!(apt(&["update", "-q"]), "apt-get update failed");
            assert!(apt(&["install", "-y", "-q", "chromium", "chromium-driver"]), "installing chromium failed");
        }
    });
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    /// A headless Chromium with a window `width` pixels wide.
    pub async fn start(width: u32) -> Browser {
        ensure_installed();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},900"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if width < MIN_WINDOW_WIDTH {
            // A window cannot be that narrow: a phone's viewport is emulated instead.
            let metrics = json!({ "width": width, "height": 844, "pixelRatio": 1.0 });
            options["mobileEmulation"] = json!({ "deviceMetrics": metrics });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let client = crate::helpers::eventually(20, "chromedriver to accept a session", || {
            let (caps, url) = (caps.clone(), url.clone());
            async move {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                ClientBuilder::new(connector).capabilities(caps).connect(&url).await.ok()
            }
        })
        .await;
        // A loaded CI machine runs axe-core slower than WebDriver's default script limit of 30 s.
        let limits = fantoccini::wd::TimeoutConfiguration::new(Some(Duration::from_secs(120)), None, None);
        client.update_timeouts(limits).await.expect("the browser takes its time limits");
        Browser { client, driver, profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Types `text` into the field labelled by the `<label for>` whose text is `label`.
    pub async fn fill(&self, label: &str, text: &str) {
        let xpath = format!("//input[@id=//label[normalize-space()='{label}']/@for]");
        let field = self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("a field {label}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Picks the option whose text starts with `option` in the drop-down labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        let xpath = format!(
            "//select[@id=//label[normalize-space()='{label}']/@for]/option[starts-with(normalize-space(), '{option}')]"
        );
        let found = self.client.find(Locator::XPath(&xpath)).await;
        found.unwrap_or_else(|e| panic!("an option {option} of {label}: {e}")).click().await.unwrap();
    }

    /// Ticks the check box labelled `label` (when it is not ticked yet).
    pub async fn tick(&self, label: &str) {
        let xpath = format!("//input[@type='checkbox'][@id=//label[normalize-space()='{label}']/@for]");
        let found = self.client.find(Locator::XPath(&xpath)).await;
        let boxed = found.unwrap_or_else(|e| panic!("a check box {label}: {e}"));
        if boxed.prop("checked").await.unwrap().as_deref() != Some("true") {
            boxed.click().await.unwrap();
        }
    }

    /// Clicks the button whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}']");
        let button = self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("a button {text}: {e}"));
        button.click().await.unwrap();
    }

    /// Clicks the button whose text is `text` and waits for the page it submits to: until the page
    /// it was on is gone and the new one has loaded (the driver does not wait for a form's navigation).
    pub async fn submit(&self, text: &str) {
        let before = self.client.find(Locator::Css("html")).await.unwrap();
        self.click_button(text).await;
        crate::helpers::eventually(10, &format!("the page {text} submits to"), || async {
            let gone = before.prop("tagName").await.is_err();
            let ready = self.client.execute("return document.readyState", vec![]).await.ok();
            (gone && ready == Some(json!("complete"))).then_some(())
        })
        .await;
    }

    /// Presses and releases `key` (a character, or a WebDriver key code such as Tab `\u{E004}`) `times`
    /// times, on whatever has the focus.
    pub async fn press(&self, key: char, times: usize) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut keys = KeyActions::new("keyboard".into());
        for _ in 0..times {
            keys = keys.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
        }
        self.client.perform_actions(keys).await.expect("the keys are pressed");
    }

    /// The `id` of the element that has the focus.
    pub async fn focused_id(&self) -> Option<String> {
        self.client.active_element().await.ok()?.attr("id").await.ok()?
    }

    /// Whether a button with this text is on the page.
    pub async fn has_button(&self, text: &str) -> bool {
        let xpath = format!("//button[normalize-space()='{text}']");
        !self.client.find_all(Locator::XPath(&xpath)).await.unwrap().is_empty()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Waits until the page's path is exactly `path`.
    pub async fn reach_exactly(&self, path: &str) {
        crate::helpers::eventually(10, &format!("the browser to reach exactly {path}"), || async {
            let ready = self.client.execute("return document.readyState", vec![]).await.ok();
            (self.path().await == path && ready == Some(json!("complete"))).then_some(())
        })
        .await
    }

    /// Waits until the page's path starts with `prefix` (a click's navigation is not awaited by the
    /// driver); returns it.
    pub async fn reach(&self, prefix: &str) -> String {
        crate::helpers::eventually(10, &format!("the browser to reach {prefix}"), || async {
            let path = self.path().await;
            let ready = self.client.execute("return document.readyState", vec![]).await.ok();
            (path.starts_with(prefix) && ready == Some(json!("complete"))).then_some(path)
        })
        .await
    }

    /// The visible text of the first element matching `css`.
    /// Waits for it: the page a click asked for may still be loading.
    pub async fn text(&self, css: &str) -> String {
        crate::helpers::eventually(10, &format!("an element {css}"), || async {
            self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
        })
        .await
    }

    /// Saves a screenshot as `target/console-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Signs in on the console of the app at `base` with `key`.
    pub async fn sign_in(&self, base: &str, key: &str) {
        self.goto(&format!("{base}/console/")).await;
        assert_eq!(self.path().await, "/console/sign-in");
        self.fill("API key", key).await;
        self.submit("Sign in").await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing the driver leaves its Chromium running (it is not the driver's child for long), so
        // every process started with this browser's own profile directory goes too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        let _ = Command::new("pkill").args(["-9", "-f", "--", &profile]).status();
    }
}
