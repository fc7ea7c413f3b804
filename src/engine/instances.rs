use serde_json::json;

use super::inputs::{InstanceIn, InstancePatch};
use super::{Engine, EngineResult, Refresh};
use crate::domain::instance::{PreviousSecret, TriggerInstance};
use crate::domain::secret::WebhookSecret;
use crate::domain::verification::SigningSecret;
use crate::domain::{now_epoch_seconds, InstanceId, SystemId, ValidationError};
use crate::store::{InstanceFilter, Page, PageRequest};

pub use crate::store::repo::InstanceRecord;

/// The answer to setting an instance's signing secret.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SigningSecretSet {
    /// `trig-…`
    pub trigger_instance: InstanceId,
    /// Only when Switchboard generated it: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Epoch seconds until which the replaced secret still verifies.
    pub previous_valid_until: Option<u64>,
}

impl Engine {
    /// Drops deleted instances from condition tracking and memory.
    pub(super) fn forget_instances(&self, ids: &[InstanceId]) {
        self.targets.invalidate();
        for id in ids {
            self.evaluator.forget(id);
            self.runtime.forget(id);
            self.dedup.forget(id);
            self.receipts.forget(id.clone());
            self.runs.forget(id);
            let (store, id) = (self.store.clone(), id.clone());
            // A run under way notices at its next save that it is gone.
            tokio::spawn(async move {
                if let Err(e) = store.remove_runs(id).await {
                    tracing::error!(error = %e, "removing a deleted instance's runs failed");
                }
            });
        }
    }

    pub async fn apply_trigger(&self, system: SystemId, input: InstanceIn) -> EngineResult<InstanceRecord> {
        let id = InstanceId::generate();
        let events = self.event(
            "trigger_instance.created",
            Some(system.as_str()),
            || json!({"trigger_instance": id, "trigger_id": input.trigger_id, "system_id": system}),
        );
        let owner = system.clone();
        let build = Box::new(move |trigger: &crate::domain::trigger::Trigger| {
            let now = now_epoch_seconds();
            TriggerInstance {
                enabled: input.enabled,
                important: input.important.unwrap_or(trigger.spec.important),
                exec_enabled: input.exec_enabled,
                ..TriggerInstance::new(id, owner, trigger.id.clone(), now)
            }
        });
        let trigger = input.trigger_id.clone();
        let created = self.write(self.store.insert_instance(system, trigger, build, events.clone())).await?;
        self.refresh(Refresh::Instance(&created.0.id)).await;
        self.events.broadcast_all(events);
        Ok(created)
    }

    pub async fn list_instances(
        &self,
        system: SystemId,
        filter: InstanceFilter,
        page: PageRequest,
    ) -> EngineResult<Page<InstanceRecord>> {
        Ok(self.store.list_instances_of_system(system, filter, page).await?)
    }

    pub async fn get_instance(&self, system: SystemId, id: InstanceId) -> EngineResult<InstanceRecord> {
        Ok(self.store.get_instance_in(system, id).await?)
    }

    pub async fn update_instance(
        &self,
        system: SystemId,
        id: InstanceId,
        patch: InstancePatch,
    ) -> EngineResult<InstanceRecord> {
        let sent = [("enabled", patch.enabled), ("important", patch.important), ("exec_enabled", patch.exec_enabled)];
        let changed: Vec<&'static str> = sent.iter().filter(|(_, v)| v.is_some()).map(|(name, _)| *name).collect();
        let events = self.instance_updated(changed);
        let change = Box::new(move |mut inst: TriggerInstance| {
            inst.enabled = patch.enabled.unwrap_or(inst.enabled);
            inst.important = patch.important.unwrap_or(inst.important);
            inst.exec_enabled = patch.exec_enabled.unwrap_or(inst.exec_enabled);
            inst.updated_at = now_epoch_seconds();
            inst
        });
        let (updated, events) = self.write(self.store.update_instance(system, id, change, events)).await?;
        self.events.broadcast_all(events);
        self.refresh(Refresh::Instance(&updated.0.id)).await;
        Ok(updated)
    }

    /// Replaces the webhook secret; the old one stops matching as soon as this returns.
    pub async fn rotate_secret(&self, system: SystemId, id: InstanceId) -> EngineResult<InstanceRecord> {
        let events = self.instance_updated(vec!["webhook_secret"]);
        let change = Box::new(|mut inst: TriggerInstance| {
            inst.webhook_secret = WebhookSecret::generate();
            inst.updated_at = now_epoch_seconds();
            inst
        });
        let (rotated, events) = self.write(self.store.update_instance(system, id, change, events)).await?;
        self.events.broadcast_all(events);
        self.targets.invalidate();
        Ok(rotated)
    }

    /// Sets the secret the instance's sender signs with: `provided`, or one generated for the trigger's
    /// scheme (returned, the only time it is shown). The previous secret stays valid for the grace period.
    pub async fn set_signing_secret(
        &self,
        system: SystemId,
        id: InstanceId,
        provided: Option<String>,
    ) -> EngineResult<SigningSecretSet> {
        let grace = self.webhook.verification_grace_s;
        let events = self.instance_updated(vec!["signing_secret"]);
        let (inst, _) = self.store.get_instance_in(system.clone(), id.clone()).await?;
        let trigger = self.store.get_trigger(inst.trigger_id).await?;
        let settings = trigger
            .spec
            .webhook_verification
            .ok_or_else(|| ValidationError::new("webhook_verification", "the trigger does not verify signatures"))?;
        let (secret, generated) = match provided {
            Some(raw) => (SigningSecret::parse_for(&settings, &raw).map_err(|e| e.within("secret"))?, false),
            None => (settings.generate_secret(), true),
        };
        let now = now_epoch_seconds();
        let shown = generated.then(|| secret.expose().to_owned());
        let change = Box::new(move |mut inst: TriggerInstance| {
            let previous = inst.signing_secret.replace(secret);
            inst.previous_signing_secret = previous.map(|secret| PreviousSecret { secret, valid_until: now + grace });
            inst.updated_at = now;
            inst
        });
        let ((inst, _), events) = self.write(self.store.update_instance(system, id, change, events)).await?;
        let previous_valid_until = inst.previous_signing_secret.as_ref().map(|p| p.valid_until);
        let set = SigningSecretSet { trigger_instance: inst.id, secret: shown, previous_valid_until };
        self.events.broadcast_all(events);
        self.targets.invalidate();
        Ok(set)
    }

    /// `trigger_instance.updated` for a change of these fields (named, never their values: some are secrets).
    /// `changed`: the fields the call set (a PATCH's, not every patchable one).
    fn instance_updated(&self, changed: Vec<&'static str>) -> crate::store::repo::Announce<TriggerInstance> {
        self.events_for("trigger_instance.updated", move |inst: &TriggerInstance| {
            let data = json!({
                "trigger_instance": inst.id, "trigger_id": inst.trigger_id, "system_id": inst.control_system_id,
                "enabled": inst.enabled, "important": inst.important, "exec_enabled": inst.exec_enabled,
                "changed": changed,
            });
            (Some(inst.control_system_id.to_string()), data)
        })
    }

    pub async fn delete_instance(&self, system: SystemId, id: InstanceId) -> EngineResult<()> {
        let inst = id.clone();
        let events = self.event(
            "trigger_instance.deleted",
            Some(system.as_str()),
            || json!({"trigger_instance": id, "system_id": system}),
        );
        self.write(self.store.delete_instance(system, id, events.clone())).await?;
        self.forget_instances(std::slice::from_ref(&inst));
        self.events.broadcast_all(events);
        Ok(())
    }
}
