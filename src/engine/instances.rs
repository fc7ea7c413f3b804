use serde_json::json;

use super::inputs::{InstanceIn, InstancePatch};
use super::{Engine, EngineResult, Refresh};
use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::secret::WebhookSecret;
use crate::domain::{now_epoch_seconds, InstanceId, SystemId};
use crate::store::{InstanceFilter, Page, PageRequest};

pub type InstanceRecord = (TriggerInstance, InstanceState);

impl Engine {
    /// Drops deleted instances from condition tracking and memory.
    pub(super) fn forget_instances(&self, ids: &[InstanceId]) {
        self.targets.invalidate();
        for id in ids {
            self.evaluator.forget(id);
            self.runtime.forget(id);
        }
    }

    pub async fn apply_trigger(&self, system: SystemId, input: InstanceIn) -> EngineResult<InstanceRecord> {
        let id = InstanceId::generate();
        let events = self.event(
            "trigger_instance.created",
            Some(system.as_str()),
            || json!({"trigger_instance": id, "trigger_id": input.trigger_id, "system_id": system}),
        );
        let durable = events.clone();
        let created = self
            .write(move |s| {
                let build = |trigger: &crate::domain::trigger::Trigger| {
                    let now = now_epoch_seconds();
                    TriggerInstance {
                        id,
                        control_system_id: system.clone(),
                        trigger_id: trigger.id.clone(),
                        enabled: input.enabled,
                        important: input.important.unwrap_or(trigger.spec.important),
                        exec_enabled: input.exec_enabled,
                        webhook_secret: WebhookSecret::generate(),
                        created_at: now,
                        updated_at: now,
                    }
                };
                s.insert_instance(&system, &input.trigger_id, build, &durable)
            })
            .await?;
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
        Ok(self.store.run(move |s| s.list_instances_of_system(&system, &filter, page)).await?)
    }

    pub async fn get_instance(&self, system: SystemId, id: InstanceId) -> EngineResult<InstanceRecord> {
        Ok(self.store.run(move |s| s.get_instance_in(&system, &id)).await?)
    }

    pub async fn update_instance(
        &self,
        system: SystemId,
        id: InstanceId,
        patch: InstancePatch,
    ) -> EngineResult<InstanceRecord> {
        let updated = self
            .write(move |s| {
                s.update_instance(&system, &id, |mut inst| {
                    inst.enabled = patch.enabled.unwrap_or(inst.enabled);
                    inst.important = patch.important.unwrap_or(inst.important);
                    inst.exec_enabled = patch.exec_enabled.unwrap_or(inst.exec_enabled);
                    inst.updated_at = now_epoch_seconds();
                    inst
                })
            })
            .await?;
        self.refresh(Refresh::Instance(&updated.0.id)).await;
        Ok(updated)
    }

    /// Replaces the webhook secret; the old one stops matching as soon as this returns.
    pub async fn rotate_secret(&self, system: SystemId, id: InstanceId) -> EngineResult<InstanceRecord> {
        let rotated = self
            .write(move |s| {
                s.update_instance(&system, &id, |mut inst| {
                    inst.webhook_secret = WebhookSecret::generate();
                    inst.updated_at = now_epoch_seconds();
                    inst
                })
            })
            .await?;
        self.targets.invalidate();
        Ok(rotated)
    }

    pub async fn delete_instance(&self, system: SystemId, id: InstanceId) -> EngineResult<()> {
        let inst = id.clone();
        let events = self.event(
            "trigger_instance.deleted",
            Some(system.as_str()),
            || json!({"trigger_instance": id, "system_id": system}),
        );
        let durable = events.clone();
        self.write(move |s| s.delete_instance(&system, &id, &durable)).await?;
        self.forget_instances(std::slice::from_ref(&inst));
        self.events.broadcast_all(events);
        Ok(())
    }
}
