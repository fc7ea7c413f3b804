use std::collections::HashMap;
use std::sync::Arc;

use super::inputs::{ModuleIn, ModulePatch};
use super::{Engine, EngineResult, Refresh};
use crate::domain::module::Module;
use crate::domain::{now_epoch_seconds, ModuleId, SystemId, ValidationError};
use crate::drivers::DriverRegistry;
use crate::store::{Page, PageRequest};

/// A module with the name and position it answers to inside its system.
#[derive(Debug, Clone)]
pub struct ModuleView {
    /// Shared: exec requests take it from the system cache on every call.
    pub module: Arc<Module>,
    /// `custom_name`, else the driver's default module name.
    pub name: String,
    /// 1-based among the system's modules with the same name; `None` outside a system.
    pub index: Option<u32>,
}

impl Engine {
    pub fn module_view(&self, module: Module) -> ModuleView {
        let name = resolved_name(&self.drivers, &module);
        ModuleView { module: Arc::new(module), name, index: None }
    }

    pub async fn create_module(&self, input: ModuleIn) -> EngineResult<ModuleView> {
        let now = now_epoch_seconds();
        let blank = Module {
            id: ModuleId::generate(),
            driver: String::new(),
            custom_name: None,
            control_system_id: None,
            settings: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let module = apply(&self.drivers, blank, input.into())?;
        let events = self.event("module.created", system_of(&module), || module_data(&module));
        let module = self.write(self.store.insert_module(module, events.clone())).await?;
        self.events.broadcast_all(events);
        if let Some(system) = &module.control_system_id {
            self.refresh(Refresh::System(system)).await;
        }
        Ok(self.module_view(module))
    }

    pub async fn get_module(&self, id: ModuleId) -> EngineResult<ModuleView> {
        let module = self.store.get_module(id).await?;
        Ok(self.module_view(module))
    }

    pub async fn list_modules(
        &self,
        q: Option<String>,
        system: Option<SystemId>,
        driver: Option<String>,
        page: PageRequest,
    ) -> EngineResult<Page<ModuleView>> {
        if crate::store::matches_nothing(&[q.as_deref(), driver.as_deref()]) {
            return Ok(Page::empty());
        }
        let page = self.store.list_modules(q, system, driver, page).await?;
        Ok(Page { total: page.total, items: page.items.into_iter().map(|m| self.module_view(m)).collect() })
    }

    pub async fn update_module(&self, id: ModuleId, patch: ModulePatch) -> EngineResult<ModuleView> {
        let drivers = Arc::clone(&self.drivers);
        let before = self.store.get_module(id.clone()).await?;
        let events = self.events_for("module.updated", |m: &Module| (system_of(m).map(str::to_owned), module_data(m)));
        let change = Box::new(move |m| apply(&drivers, m, patch));
        let (module, events) = self.write(self.store.update_module(id, change, events)).await?;
        self.events.broadcast_all(events);
        for system in before.control_system_id.iter().chain(module.control_system_id.iter()) {
            self.refresh(Refresh::System(system)).await;
        }
        Ok(self.module_view(module))
    }

    pub async fn delete_module(&self, id: ModuleId) -> EngineResult<()> {
        let module = self.store.get_module(id.clone()).await?;
        let events = self.event("module.deleted", system_of(&module), || module_data(&module));
        self.write(self.store.delete_module(id, events.clone())).await?;
        self.events.broadcast_all(events);
        self.modules.remove(&module.id);
        if let Some(system) = &module.control_system_id {
            self.refresh(Refresh::System(system)).await;
        }
        Ok(())
    }

    /// A system's modules in order, each with the `Name_index` it is referred to by.
    pub async fn system_modules(&self, system: SystemId) -> EngineResult<Vec<ModuleView>> {
        Ok(system_modules(&self.store, &self.drivers, system).await?)
    }
}

/// A module's name: `custom_name`, else its driver's default module name.
pub fn resolved_name(drivers: &DriverRegistry, module: &Module) -> String {
    match &module.custom_name {
        Some(name) => name.as_str().to_owned(),
        None => {
            drivers.get(&module.driver).map(|d| d.default_module_name.clone()).unwrap_or_else(|| module.driver.clone())
        }
    }
}

/// A system's modules in order, each with its name and its 1-based index among same-named modules.
pub async fn system_modules(
    store: &crate::store::Repository,
    drivers: &DriverRegistry,
    system: SystemId,
) -> crate::store::StoreResult<Vec<ModuleView>> {
    let modules = store.modules_of_system(system).await?;
    let mut seen: HashMap<String, u32> = HashMap::new();
    Ok(modules
        .into_iter()
        .map(|module| {
            let name = resolved_name(drivers, &module);
            let count = seen.entry(name.clone()).or_default();
            *count += 1;
            ModuleView { module: Arc::new(module), name, index: Some(*count) }
        })
        .collect())
}

fn apply(drivers: &DriverRegistry, mut module: Module, patch: ModulePatch) -> Result<Module, ValidationError> {
    if let Some(driver) = patch.driver {
        if drivers.get(&driver).is_none() {
            return Err(ValidationError::new("driver", format!("no driver named {driver:?} is registered")));
        }
        module.driver = driver;
    }
    if let Some(name) = patch.custom_name {
        module.custom_name = name;
    }
    if let Some(system) = patch.control_system_id {
        module.control_system_id = system;
    }
    if let Some(settings) = patch.settings {
        module.settings = settings;
    }
    drivers.check_settings(&module.driver, &module.settings)?;
    module.updated_at = now_epoch_seconds();
    Ok(module)
}

fn system_of(module: &Module) -> Option<&str> {
    module.control_system_id.as_ref().map(|s| s.as_str())
}

/// What module events say about a module: not its settings, which may hold secrets.
fn module_data(module: &Module) -> serde_json::Value {
    serde_json::json!({
        "module_id": module.id, "driver": module.driver, "custom_name": module.custom_name,
        "control_system_id": module.control_system_id,
    })
}
