use serde::{Deserialize, Serialize};

use super::{ModuleId, SystemId};

/// A stored control system. `modules` is the order that module references (`Display_2`) count in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct System {
    /// `sys-…`
    pub id: SystemId,
    #[schema(schema_with = super::schema::name)]
    pub name: String,
    #[schema(schema_with = super::schema::description)]
    pub description: String,
    /// Module ids, in the order references count in.
    pub modules: Vec<ModuleId>,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
}
