//! Entry points for the fuzz targets in `fuzz/`, compiled only with the `fuzzing` feature: each hands
//! outside bytes to the code the server parses them with, through items the targets cannot name
//! themselves. What a target asserts about the results lives with the target.

use std::path::Path;
use std::sync::OnceLock;

use actix_web::dev::{ResourceDef, Url};
use actix_web::http::Uri;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use crate::config::{Config, Overrides};
use crate::domain::module::ModuleRef;
use crate::domain::trigger::TriggerSpec;
use crate::domain::ValidationError;

/// A trigger webhook call as the server reads its request target.
#[derive(Debug)]
pub struct NotifyCall {
    /// The route pattern that matched (`…/notify/{secret}`).
    pub route: &'static str,
    /// The path as the request carried it (not decoded).
    pub path: String,
    /// The path parameters as actix matched them.
    pub params: Vec<(String, String)>,
    /// The secret from the path or the query; empty when there is none.
    pub secret: String,
    /// The exec parameters, checked: the module and its webhook method, or the client error.
    pub exec: Option<Result<(ModuleRef, String), String>>,
}

/// The trigger webhook routes as the server registers them, each with its compiled pattern.
fn webhook_routes() -> &'static [(&'static str, ResourceDef)] {
    static ROUTES: OnceLock<Vec<(&'static str, ResourceDef)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        crate::http::ROUTES
            .iter()
            .filter(|(method, path)| *method == "GET" && path.contains("/webhook/{trig_id}/notify"))
            .map(|(_, path)| (*path, ResourceDef::new(*path)))
            .collect()
    })
}

/// Routes `target` (path and query, as in a request line) like the server and reads the webhook
/// secret and exec parameters from it like the webhook handlers. `None` when it is not a URI or not a
/// trigger webhook route.
pub fn notify_call(target: &str) -> Option<NotifyCall> {
    let uri: Uri = target.parse().ok()?;
    let (route, params) = webhook_routes().iter().find_map(|(pattern, def)| {
        let mut path = actix_web::dev::Path::new(Url::new(uri.clone()));
        def.capture_match_info(&mut path)
            .then(|| (*pattern, path.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>()))
    })?;
    let mut req = actix_web::test::TestRequest::default().uri(target);
    for (name, value) in &params {
        req = req.param(name.clone(), value.clone());
    }
    let call = crate::http::webhook::read_call(&req.to_http_request());
    let exec = call.exec.map(|raw| raw.parse().map(|e| (e.module, e.method)).map_err(|e| e.to_string()));
    Some(NotifyCall { route, path: uri.path().to_owned(), params, secret: call.secret, exec })
}

/// The query string as a webhook receipt stores it (the secret's value redacted).
pub fn receipt_query(query: &str) -> String {
    crate::http::webhook_call::redact_query(query)
}

/// The text of a config file on top of the defaults, as `Config::load` reads it, without the
/// environment and flags (which are the operator's, not outside bytes); then validated.
pub fn config_from_toml(text: &str) -> Result<Config, String> {
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .merge(Serialized::defaults(Overrides::default()))
        .extract()
        .map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// The state journal: its records as replayed at start-up, and how its files are named.
pub mod journal {
    use super::Path;
    use crate::store::sled::journal::Journal;
    pub use crate::store::sled::journal::Record;

    /// Every record of every journal file in `dir`, as [`crate::store::SledStore`] replays them when it
    /// opens, and the number of the newest file.
    pub fn read_all(dir: &Path) -> std::io::Result<(Vec<Record>, Option<u64>)> {
        Journal::read_all(dir)
    }

    /// The name of journal file `seq`: `v1` for the first format, whose checksums leave out the number.
    pub fn file_name(seq: u64, v1: bool) -> String {
        format!("{seq:016}.{}", if v1 { "log" } else { "wal" })
    }
}

/// A `POST /triggers` body (a JSON value) to the spec the engine stores.
pub fn trigger_spec(body: &serde_json::Value) -> Result<TriggerSpec, ValidationError> {
    if !body.is_object() {
        return Err(ValidationError::new("", "the body must be a JSON object"));
    }
    crate::engine::triggers::spec_from(crate::domain::from_json(body)?)
}
