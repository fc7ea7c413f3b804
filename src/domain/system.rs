use serde::{Deserialize, Serialize};

use super::{ModuleId, SystemId};

/// A stored control system. `modules` is the order that module references (`Display_2`) count in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct System {
    pub id: SystemId,
    pub name: String,
    pub description: String,
    pub modules: Vec<ModuleId>,
    pub created_at: u64,
    pub updated_at: u64,
}
