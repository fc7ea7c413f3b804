use super::inputs::{TriggerIn, TriggerPatch};
use super::schedule::Schedule;
use super::{Engine, EngineResult, Refresh};
use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::trigger::{Trigger, TriggerSpec};
use crate::domain::verification::VerificationSettings;
use crate::domain::webhook_filter::WebhookFilter;
use crate::domain::{now_epoch_seconds, parse_description, parse_name, TriggerId, ValidationError};
use crate::store::{Page, PageRequest};
use serde_json::json;

/// A trigger body as the engine stores it (also the fuzz targets' entry, `crate::fuzzing`).
pub(crate) fn spec_from(input: TriggerIn) -> Result<TriggerSpec, ValidationError> {
    let spec = TriggerSpec {
        name: parse_name("name", &input.name)?,
        description: parse_description("description", input.description)?,
        conditions: input.conditions,
        actions: input.actions,
        debounce_period: input.debounce_period,
        important: input.important,
        enable_webhook: input.enable_webhook,
        any_match: input.any_match,
        supported_methods: input.supported_methods,
        webhook_verification: input.webhook_verification.as_ref().map(verification).transpose()?,
        webhook_filter: input.webhook_filter.as_ref().map(filter).transpose()?,
    };
    spec.validate()?;
    check_schedules(&spec)?;
    Ok(spec)
}

fn verification(raw: &serde_json::Value) -> Result<VerificationSettings, ValidationError> {
    VerificationSettings::parse(raw).map_err(|e| e.within("webhook_verification"))
}

/// Compiled here, once per trigger revision; calls only evaluate it.
fn filter(raw: &serde_json::Value) -> Result<WebhookFilter, ValidationError> {
    crate::domain::webhook_filter::parse(raw).map_err(|e| e.within("webhook_filter"))
}

/// Cron expressions and time zones are checked when a trigger is saved, not when they would run.
fn check_schedules(spec: &TriggerSpec) -> Result<(), ValidationError> {
    for (i, td) in spec.conditions.time_dependents.iter().enumerate() {
        Schedule::parse(td, &format!("conditions.time_dependents[{i}]"))?;
    }
    Ok(())
}

fn apply(mut trigger: Trigger, patch: TriggerPatch) -> Result<Trigger, ValidationError> {
    let spec = &mut trigger.spec;
    if let Some(name) = patch.name {
        spec.name = parse_name("name", &name)?;
    }
    if let Some(description) = patch.description {
        spec.description = parse_description("description", description)?;
    }
    if let Some(v) = patch.conditions {
        spec.conditions = v;
    }
    if let Some(v) = patch.actions {
        spec.actions = v;
    }
    if let Some(v) = patch.debounce_period {
        spec.debounce_period = v;
    }
    if let Some(v) = patch.important {
        spec.important = v;
    }
    if let Some(v) = patch.enable_webhook {
        spec.enable_webhook = v;
    }
    if let Some(v) = patch.any_match {
        spec.any_match = v;
    }
    if let Some(v) = patch.supported_methods {
        spec.supported_methods = v;
    }
    if let Some(v) = patch.webhook_verification {
        spec.webhook_verification = v.as_ref().map(verification).transpose()?;
    }
    if let Some(v) = patch.webhook_filter {
        spec.webhook_filter = v.as_ref().map(filter).transpose()?;
    }
    spec.validate()?;
    check_schedules(spec)?;
    trigger.updated_at = now_epoch_seconds();
    Ok(trigger)
}

impl Engine {
    pub async fn create_trigger(&self, input: TriggerIn) -> EngineResult<Trigger> {
        let now = now_epoch_seconds();
        let trigger = Trigger { id: TriggerId::generate(), spec: spec_from(input)?, created_at: now, updated_at: now };
        let events = self.event("trigger.created", None, || trigger_data(&trigger));
        let trigger = self.write(self.store.insert_trigger(trigger, events.clone())).await?;
        self.events.broadcast_all(events);
        Ok(trigger)
    }

    pub async fn get_trigger(&self, id: TriggerId) -> EngineResult<Trigger> {
        Ok(self.store.get_trigger(id).await?)
    }

    pub async fn list_triggers(&self, q: Option<String>, page: PageRequest) -> EngineResult<Page<Trigger>> {
        if crate::store::matches_nothing(&[q.as_deref()]) {
            return Ok(Page::empty());
        }
        Ok(self.store.list_triggers(q, page).await?)
    }

    pub async fn replace_trigger(&self, id: TriggerId, input: TriggerIn) -> EngineResult<Trigger> {
        let spec = spec_from(input)?;
        let change = |t: Trigger| Ok(Trigger { spec, updated_at: now_epoch_seconds(), ..t });
        self.change_trigger(id, change).await
    }

    pub async fn update_trigger(&self, id: TriggerId, patch: TriggerPatch) -> EngineResult<Trigger> {
        self.change_trigger(id, |t| apply(t, patch)).await
    }

    async fn change_trigger(
        &self,
        id: TriggerId,
        change: impl FnOnce(Trigger) -> Result<Trigger, ValidationError> + Send + 'static,
    ) -> EngineResult<Trigger> {
        let events = self.events_for("trigger.updated", |t: &Trigger| (None, trigger_data(t)));
        let (trigger, events) = self.write(self.store.update_trigger(id, Box::new(change), events)).await?;
        self.events.broadcast_all(events);
        self.refresh(Refresh::Trigger(&trigger.id)).await;
        Ok(trigger)
    }

    pub async fn delete_trigger(&self, id: TriggerId) -> EngineResult<()> {
        let events = self.event("trigger.deleted", None, || json!({ "trigger_id": id }));
        let instances = self.write(self.store.delete_trigger(id, events.clone())).await?;
        self.forget_instances(&instances);
        self.events.broadcast_all(events);
        Ok(())
    }

    pub async fn trigger_instances(&self, id: TriggerId) -> EngineResult<Vec<(TriggerInstance, InstanceState)>> {
        Ok(self.store.list_instances_of_trigger(id).await?)
    }
}

/// What trigger events say about a trigger: not its actions, whose headers and URLs may hold credentials.
fn trigger_data(trigger: &Trigger) -> serde_json::Value {
    json!({ "trigger_id": trigger.id, "name": trigger.spec.name, "enable_webhook": trigger.spec.enable_webhook })
}
