//! Callouts as admins manage them, and the question an exec asks them before it goes ahead.

use serde_json::{json, Value};

use super::callout_gate::Clearance;
use super::{Engine, EngineResult, ExecError};
use crate::domain::callout::{Callout, CalloutSpec, Gate};
use crate::domain::callout_input::CalloutPatch;
use crate::domain::callout_log::{LogEntry, Question};
use crate::domain::ids::CalloutId;
use crate::domain::signing_secret::{RetiredSecret, SigningSecret};
use crate::domain::{now_epoch_seconds, ValidationError};
use crate::outbound::subscription::url_for_support;
use crate::store::{Page, PageRequest};

/// What a callout's events say about it: never its secret, and its URL as support keys see it.
fn described(callout: &Callout) -> (Option<String>, Value) {
    let s = &callout.spec;
    let data = json!({
        "callout_id": callout.id, "name": s.name, "url": url_for_support(&s.url), "on": s.on,
        "system_id": s.system_id, "enabled": s.enabled,
    });
    (s.system_id.as_ref().map(|id| id.to_string()), data)
}

impl Engine {
    pub async fn create_callout(&self, spec: CalloutSpec) -> EngineResult<Callout> {
        let now = now_epoch_seconds();
        let callout = Callout {
            id: CalloutId::generate(),
            spec,
            secret: SigningSecret::generate(),
            previous_secret: None,
            created_at: now,
            updated_at: now,
        };
        let announce = self.events_for("callout.created", described);
        let events = announce(&callout);
        let callout = self.write(self.store.insert_callout(callout, events.clone())).await?;
        self.callouts_changed(events).await?;
        Ok(callout)
    }

    pub async fn get_callout(&self, id: CalloutId) -> EngineResult<Callout> {
        Ok(self.store.get_callout(id).await?)
    }

    pub async fn list_callouts(&self, page: PageRequest) -> EngineResult<Page<Callout>> {
        Ok(self.store.list_callouts(page).await?)
    }

    pub async fn update_callout(&self, id: CalloutId, patch: CalloutPatch) -> EngineResult<Callout> {
        let changed = patch.fields();
        self.change_callout(id, changed, move |mut c| {
            c.spec = patch.apply(c.spec)?;
            Ok(c)
        })
        .await
    }

    /// A new secret signs from now on; the one before it also signs for `callouts.secret_grace_period_s`.
    pub async fn rotate_callout_secret(&self, id: CalloutId) -> EngineResult<Callout> {
        // Generated outside the store call, which holds a lock while it runs.
        let fresh = SigningSecret::generate();
        let grace = self.callouts.secret_grace_s();
        self.change_callout(id, vec!["secret"], move |mut c| {
            let old = std::mem::replace(&mut c.secret, fresh);
            let signs_until = now_epoch_seconds().saturating_add(grace);
            c.previous_secret = (grace > 0).then_some(RetiredSecret { secret: old, signs_until });
            Ok(c)
        })
        .await
    }

    async fn change_callout(
        &self,
        id: CalloutId,
        changed: Vec<&'static str>,
        change: impl FnOnce(Callout) -> Result<Callout, ValidationError> + Send + 'static,
    ) -> EngineResult<Callout> {
        let announce = self.events_for("callout.updated", move |c: &Callout| {
            let (system, mut data) = described(c);
            data["changed"] = json!(changed);
            (system, data)
        });
        let change = Box::new(move |c: Callout| {
            let mut c = change(c)?;
            c.updated_at = now_epoch_seconds();
            Ok(c)
        });
        let (callout, events) = self.write(self.store.update_callout(id, change, announce)).await?;
        self.callouts_changed(events).await?;
        Ok(callout)
    }

    pub async fn delete_callout(&self, id: CalloutId) -> EngineResult<()> {
        let announce = self.events_for("callout.deleted", |c: &Callout| {
            (c.spec.system_id.as_ref().map(|s| s.to_string()), json!({ "callout_id": c.id }))
        });
        let events = self.write(self.store.delete_callout(id, announce)).await?;
        self.callouts_changed(events).await
    }

    /// A callout's log, newest first.
    pub async fn callout_log(&self, id: CalloutId, page: PageRequest) -> EngineResult<Page<LogEntry>> {
        Ok(self.store.list_callout_log(id, page).await?)
    }

    /// Rebuilds the gate's index from the store, then tells live listeners.
    pub(super) async fn callouts_changed(&self, events: Vec<crate::events::EngineEvent>) -> EngineResult<()> {
        self.callouts.reload(&self.store).await?;
        self.events.broadcast_all(events);
        Ok(())
    }

    /// Asks the callouts a call at `gate` needs; `question` describes the call to them, built only when
    /// some are needed. `Ok(true)`: some were asked and all allowed, so what they may have changed
    /// meanwhile must be read again; `Ok(false)`: none was needed.
    pub async fn ask_callouts(&self, gate: &Gate<'_>, question: impl FnOnce() -> Question) -> EngineResult<bool> {
        let needed = self.callouts.matching(gate);
        if needed.is_empty() {
            return Ok(false);
        }
        match self.callouts.ask(&question(), &needed).await {
            Clearance::Allowed => Ok(true),
            Clearance::Denied(reason) => Err(ExecError::DeniedByCallout(reason).into()),
            Clearance::Unavailable(why) => {
                tracing::debug!(why = %why, "a callout could not be asked; its failure policy refuses the call");
                Err(ExecError::CalloutUnavailable.into())
            }
        }
    }
}
