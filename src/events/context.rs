//! The actor and request id of the work under way, for the events it causes.
//!
//! A task-local, set around each HTTP request (the request id, then the actor once the API key or the
//! webhook call is known) and around scheduled work, so that an event built anywhere below names its
//! cause without every engine call passing it along. Work outside any scope (spawned tasks, the action
//! worker, status values a driver publishes on its own) is the system's.

use std::future::Future;
use std::sync::Mutex;

use crate::domain::actor::Actor;

tokio::task_local! {
    static CONTEXT: Context;
}

struct Context {
    request_id: Option<String>,
    actor: Mutex<Actor>,
}

/// Runs `work` as `actor`, within request `request_id`.
pub async fn within<F: Future>(request_id: Option<String>, actor: Actor, work: F) -> F::Output {
    CONTEXT.scope(Context { request_id, actor: Mutex::new(actor) }, work).await
}

/// Names who the current request acts for; no effect outside a scope.
pub fn set_actor(actor: Actor) {
    let _ = CONTEXT.try_with(|c| *c.actor.lock().unwrap_or_else(|p| p.into_inner()) = actor);
}

/// Runs `work` as `actor` within request `request_id`, on a thread without the request's task (the
/// blocking pool): what a store call builds there names the cause captured with [`current`] before.
pub fn within_sync<R>((actor, request_id): (Actor, Option<String>), work: impl FnOnce() -> R) -> R {
    CONTEXT.sync_scope(Context { request_id, actor: Mutex::new(actor) }, work)
}

/// The current actor and request id; the system's, without one, outside any scope.
pub fn current() -> (Actor, Option<String>) {
    CONTEXT
        .try_with(|c| (c.actor.lock().unwrap_or_else(|p| p.into_inner()).clone(), c.request_id.clone()))
        .unwrap_or_default()
}
