//! Console sessions: an API key exchanged at sign-in for a random token in an `HttpOnly`,
//! `SameSite=Strict` cookie, with a CSRF token of its own for every form.
//!
//! Sessions live in memory (a restart signs everyone out). Each request authenticates the session's
//! key again, so deleting a key ends its sessions at once.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::page::ConsoleError;
use crate::engine::Caller;
use crate::events::context;
use crate::http::AppState;

pub const COOKIE: &str = "sb_console";
/// Sessions kept at most; signing in beyond it drops the idlest.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    key: String,
    csrf: String,
    last_seen: Instant,
}

pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Session>>,
}

fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self { idle, map: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for a key that authenticated; returns its token.
    pub fn start(&self, key: String) -> String {
        let token = token();
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        if map.len() >= MAX_SESSIONS {
            if let Some(idlest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(t, _)| t.clone()) {
                map.remove(&idlest);
            }
        }
        map.insert(token.clone(), Session { key, csrf: self::token(), last_seen: now });
        token
    }

    pub fn end(&self, token: &str) {
        self.lock().remove(token);
    }

    /// The key of a live session, without keeping it alive (for a stream that outlasts its request).
    pub fn key_if_live(&self, token: &str) -> Option<String> {
        let map = self.lock();
        let session = map.get(token)?;
        (Instant::now().duration_since(session.last_seen) < self.idle).then(|| session.key.clone())
    }

    /// The key and CSRF token of a live session, which this use keeps alive.
    fn touch(&self, token: &str) -> Option<(String, String)> {
        let mut map = self.lock();
        let now = Instant::now();
        let session = map.get_mut(token)?;
        if now.duration_since(session.last_seen) >= self.idle {
            map.remove(token);
            return None;
        }
        session.last_seen = now;
        Some((session.key.clone(), session.csrf.clone()))
    }
}

/// The session cookie: `Secure` when the console is reached over https.
pub fn cookie(req: &HttpRequest, value: String, max_age: Option<Duration>) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .finish();
    if let Some(age) = max_age {
        cookie.set_max_age(actix_web::cookie::time::Duration::seconds(i64::try_from(age.as_secs()).unwrap_or(0)));
    }
    cookie
}

/// Whether a request came from a page of this server. Browsers say where a request came from in
/// `Sec-Fetch-Site` (and `Origin` on a POST); one from another site is refused even with a valid token,
/// sign-in included (where there is no token yet). Clients that send neither are not browsers.
pub fn same_origin(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match header("origin") {
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
        None => true,
    }
}

/// A signed-in request: who it is, and the token its forms must carry.
pub struct Signed {
    pub caller: Caller,
    pub csrf: String,
    pub token: String,
    /// See [`same_origin`].
    same_origin: bool,
}

impl Signed {
    pub fn is_admin(&self) -> bool {
        self.caller.is_admin()
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        match self.same_origin && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes())) {
            true => Ok(()),
            false => Err(ConsoleError::Csrf),
        }
    }

    /// Refuses a change to a support key (its pages do not offer one either).
    pub fn admin(&self) -> Result<(), ConsoleError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

fn signed(req: &HttpRequest) -> Result<Signed, ConsoleError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(ConsoleError::SignIn)?;
    let sessions = req.app_data::<web::Data<Sessions>>().ok_or(ConsoleError::SignIn)?;
    let token = req.cookie(COOKIE).map(|c| c.value().to_owned()).ok_or(ConsoleError::SignIn)?;
    let (key, csrf) = sessions.touch(&token).ok_or(ConsoleError::SignIn)?;
    let Some((caller, actor)) = state.engine.authenticate(&key) else {
        sessions.end(&token);
        return Err(ConsoleError::SignIn);
    };
    context::set_actor(actor);
    Ok(Signed { caller, csrf, token, same_origin: same_origin(req) })
}

impl FromRequest for Signed {
    type Error = ConsoleError;
    type Future = Ready<Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed(req))
    }
}
