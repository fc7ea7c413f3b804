//! The console over plain HTTP, for what a browser cannot show: a session cookie, a page's CSRF token,
//! and answers read without following redirects.

use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::helpers::TestApp;

/// Both widths every page must work at.
pub const WIDTHS: [u32; 2] = [1280, 390];

/// A client that shows redirects instead of following them.
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in over HTTP; returns the session cookie (`name=value`).
pub async fn session_cookie(app: &TestApp, key: &str) -> String {
    let res = raw_client().post(app.url("/console/sign-in")).form(&[("key", key)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "a known key signs in");
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(part), "the cookie is {part}: {set}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// The CSRF token the page at `path` carries for its forms.
pub async fn csrf_of(app: &TestApp, cookie: &str, path: &str) -> String {
    let page = raw_client().get(app.url(path)).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + 64].to_owned()
}
